"""``torch.compile`` that proves itself on the first batch before a run trusts it.

Compiled code is generated for the CPU or GPU it runs on, and a code generator can be wrong
where eager kernels are right: with ATen's AVX2 kernels forced on an AVX-512 Intel Xeon
(``ATEN_CPU_CAPABILITY=avx2``), inductor's output for a ResNeSt was all NaN while eager was
fine. A run that trains on such outputs loses its compute silently. So the first call runs the
network both ways, in eval mode without gradients (no BatchNorm statistics or DropBlock masks
touched), and keeps the compiled one only if its outputs are finite and close to eager's;
otherwise the run goes on eagerly after one warning that says why.

That NaN came from inductor's cache, not its code generator: the FX graph cache keys a compiled
graph without ATen's CPU capability, so a process capped at AVX2 reused the graph that an
AVX-512 process had compiled into the same cache folder, and computed NaN (with the graph cache
off, or in a cache of its own, the AVX2 code matches eager). Compiled code is therefore cached
per CPU capability (:func:`use_inductor_cache_of_this_cpu`), and still checked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

# Largest relative difference (L2 norm of the difference over that of eager's output, per
# output tensor) that counts as the same result: fused kernels reassociate sums (~1e-6 in
# fp32), bf16 autocast rounds to 8 mantissa bits (~1e-3); wrong code is off by far more.
COMPILE_CHECK_TOLERANCE = 0.02


# inductor's variable for its cache folder (read each time it looks something up)
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def use_inductor_cache_of_this_cpu() -> Path:
    """Point inductor at a cache folder of this process's ATen CPU capability (a subfolder of
    ``TORCHINDUCTOR_CACHE_DIR``, or of inductor's default), so that code compiled for one
    kernel path (say AVX-512) is never reused under another (``ATEN_CPU_CAPABILITY=avx2``)."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    base = Path(os.environ.get(INDUCTOR_CACHE_ENV) or default_cache_dir())
    folder = f"cpu_{torch.backends.cpu.get_cpu_capability().lower()}"
    if base.name != folder:
        os.environ[INDUCTOR_CACHE_ENV] = str(base / folder)
    return Path(os.environ[INDUCTOR_CACHE_ENV])


def output_tensors(outputs: Any) -> list[torch.Tensor]:
    """The tensors of a network's output: a tensor, or a mapping / sequence of them."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, Mapping):
        return [t for key in sorted(outputs) for t in output_tensors(outputs[key])]
    if isinstance(outputs, Sequence) and not isinstance(outputs, str):
        return [t for item in outputs for t in output_tensors(item)]
    return []


def disagreement(actual: Any, expected: Any, tolerance: float = COMPILE_CHECK_TOLERANCE) -> str:
    """Why ``actual`` is not ``expected`` up to ``tolerance``, or "" when it is."""
    got, want = output_tensors(actual), output_tensors(expected)
    if [t.shape for t in got] != [t.shape for t in want]:
        return f"output shapes {[tuple(t.shape) for t in got]} instead of eager's"
    for index, (a, e) in enumerate(zip(got, want, strict=True)):
        a, e = a.float(), e.float()
        if not torch.isfinite(a).all():
            bad = (~torch.isfinite(a)).sum().item()
            return f"{bad} of {a.numel()} values of output {index} are not finite"
        error = ((a - e).norm() / e.norm().clamp_min(1e-12)).item()
        if error > tolerance:
            return (
                f"output {index} is {error:.3g} away from eager's (relative; at most {tolerance})"
            )
    return ""


class CheckedCompile:
    """Calls ``network`` compiled once the first call has shown that its outputs agree with
    eager ones; eagerly, after one warning, when they do not or compiling fails.

    Kept beside the network, not registered in it, so state-dict keys do not change.
    ``compile`` is how the network gets compiled (``torch.compile`` with its defaults).
    """

    def __init__(
        self, network: nn.Module, compile: Callable[[nn.Module], Callable[..., Any]] = torch.compile
    ) -> None:
        self.network = network
        use_inductor_cache_of_this_cpu()
        self.compiled = compile(network)
        self.trusted: bool | None = None  # None until the first call has checked it

    def __call__(self, images: torch.Tensor) -> Any:
        if self.trusted is None:
            self.trusted = self.check(images)
        return (self.compiled if self.trusted else self.network)(images)

    def check(self, images: torch.Tensor) -> bool:
        training = self.network.training
        self.network.eval()
        try:
            with torch.no_grad():
                expected = self.network(images)
                try:
                    problem = disagreement(self.compiled(images), expected)
                except Exception as error:  # a backend that cannot build: run eagerly
                    problem = f"compiling failed: {type(error).__name__}: {error}"
        finally:
            self.network.train(training)
        if problem:
            log.warning(
                "model.compile=true: the compiled network does not reproduce the eager one on "
                "the first batch (%s), so this run goes on without torch.compile. Set "
                "model.compile=false to skip the attempt.",
                problem,
            )
        return not problem
