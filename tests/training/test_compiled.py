"""model.compile=true keeps the compiled network only when its first batch matches eager.

Real torch.compile with stand-in backends: one whose code returns NaN (what inductor gave under
``ATEN_CPU_CAPABILITY=avx2`` from a cache filled at AVX-512), one that cannot build, and dynamo's own "eager" backend (correct code,
compiled in seconds rather than inductor's minutes).
"""

from __future__ import annotations

import copy
import logging
import os
from functools import partial

import pytest
import torch
from torch import nn

from src.models.backbones import create_backbone
from src.models.compiled import (
    INDUCTOR_CACHE_ENV,
    CheckedCompile,
    disagreement,
    use_inductor_cache_of_this_cpu,
)

FALLBACK = "does not reproduce the eager one"


def nan_backend(graph: torch.fx.GraphModule, example_inputs: list[torch.Tensor]):
    def run(*args: torch.Tensor) -> tuple:
        return tuple(torch.full_like(out, float("nan")) for out in graph(*args))

    return run


def failing_backend(graph: torch.fx.GraphModule, example_inputs: list[torch.Tensor]):
    raise RuntimeError("no C++ compiler")


@pytest.fixture
def network() -> nn.Module:
    torch.manual_seed(0)
    return create_backbone("resnest14", num_classes=5, stem_width=8, bottleneck_width=8)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("backend", "reason"),
    [(nan_backend, "are not finite"), (failing_backend, "compiling failed: ")],
)
def test_a_wrong_compiled_network_falls_back_to_eager_with_one_warning(
    network: nn.Module, images: torch.Tensor, backend, reason: str, caplog
) -> None:
    torch._dynamo.reset()
    network.eval()  # batch statistics would differ between the calls below and the reference
    checked = CheckedCompile(network, compile=partial(torch.compile, backend=backend))
    with caplog.at_level(logging.WARNING), torch.no_grad():
        first, second = checked(images), checked(images)
    assert checked.trusted is False
    warnings = [r for r in caplog.records if FALLBACK in r.getMessage()]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    with torch.no_grad():
        expected = network(images)
    torch.testing.assert_close(first, expected, rtol=0, atol=0)
    torch.testing.assert_close(second, expected, rtol=0, atol=0)


def test_a_right_compiled_network_is_kept_and_the_check_touches_no_batchnorm_statistics(
    network: nn.Module, images: torch.Tensor, caplog
) -> None:
    torch._dynamo.reset()
    reference = copy.deepcopy(network).train()
    network.train()
    checked = CheckedCompile(network, compile=partial(torch.compile, backend="eager"))
    with caplog.at_level(logging.WARNING):
        out = checked(images)  # one training-mode forward, as a training step does
    assert checked.trusted is True and FALLBACK not in caplog.text
    assert network.training  # the check ran in eval mode and put training mode back
    expected = reference(images)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for (name, ours), theirs in zip(network.named_buffers(), reference.buffers(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0, msg=name)


def test_disagreement_names_what_is_off() -> None:
    ones = torch.ones(4)
    assert disagreement({"out": ones}, {"out": ones}) == ""
    assert "1 of 4 values of output 0 are not finite" in disagreement(
        torch.tensor([1.0, float("inf"), 1.0, 1.0]), ones
    )
    assert "away from eager's" in disagreement(ones * 2, ones)
    assert "output shapes" in disagreement([ones, ones], [ones])


def test_compiled_code_is_cached_per_cpu_capability(
    network: nn.Module, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inductor's graph cache does not key on ATen's CPU capability, so each capability gets a
    cache folder of its own below the configured one, set before anything is compiled."""
    monkeypatch.setenv(INDUCTOR_CACHE_ENV, str(tmp_path))
    capability = torch.backends.cpu.get_cpu_capability().lower()
    CheckedCompile(network, compile=partial(torch.compile, backend="eager"))
    assert os.environ[INDUCTOR_CACHE_ENV] == str(tmp_path / f"cpu_{capability}")
    assert use_inductor_cache_of_this_cpu() == tmp_path / f"cpu_{capability}"  # not nested again
    monkeypatch.setenv(INDUCTOR_CACHE_ENV, str(tmp_path / "cpu_avx2"))  # inherited from a parent
    if capability != "avx2":
        assert use_inductor_cache_of_this_cpu() == tmp_path / "cpu_avx2" / f"cpu_{capability}"
