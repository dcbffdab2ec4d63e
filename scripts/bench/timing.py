"""Timing by medians of interleaved repeats, and a description of the machine that timed.

Every repeat runs each candidate once, round-robin, so slow drift of the machine (other jobs,
clock and thermal changes) hits all candidates alike instead of whichever ran last; the start
of the round rotates each repeat so no candidate always follows the same neighbour. A sample
loops a candidate enough times to last ``min_sample_s`` (one step of a large model, many of a
small one), which keeps timer and launch noise small against the work.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import torch

from scripts.bench.kernels import kernel_facts


def _no_sync() -> None:
    """CPU work is finished when the call returns."""


@dataclass
class Candidate:
    """One thing to time: each ``run()`` call processes ``items`` items (images, batches).

    A ``self_timed`` candidate returns the seconds of the part of its call that counts (e.g.
    the steps of a training run, without the run's setup); otherwise the whole call is timed.
    """

    name: str
    run: Callable[[], object]
    items: int
    sync: Callable[[], None] = _no_sync
    self_timed: bool = False


@dataclass
class Measurement:
    """Seconds per ``run()`` of one candidate in each repeat, or why it could not run."""

    name: str
    items: int
    seconds: list[float] = field(default_factory=list)
    first_call_s: float = math.nan
    failure: str | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        """Items per second at the median."""
        return self.items / self.median_s

    @property
    def spread(self) -> float:
        """(max - min) / median of the repeats: how noisy the machine was for this candidate."""
        return (max(self.seconds) - min(self.seconds)) / self.median_s


def measure_interleaved(
    candidates: Sequence[Candidate], repeats: int, warmup: int, min_sample_s: float = 0.2
) -> dict[str, Measurement]:
    """Median-ready samples of every candidate, taken round-robin over ``repeats`` rounds.

    Each candidate first runs ``max(warmup, 1)`` untimed calls; the first is timed on its own
    (it includes compilation, allocator growth, lazy init). A candidate that raises during
    warmup is reported with the error instead of stopping the others.
    """
    results = {c.name: Measurement(c.name, c.items) for c in candidates}
    loops: dict[str, int] = {}
    for candidate in candidates:
        try:
            loops[candidate.name] = _warm_up(
                candidate, results[candidate.name], warmup, min_sample_s
            )
        except Exception as error:  # report any failure (compiler missing, OOM) as a row
            results[candidate.name].failure = describe_error(error)
    alive = [c for c in candidates if results[c.name].failure is None]
    for repeat in range(repeats):
        start = repeat % len(alive) if alive else 0
        for candidate in [*alive[start:], *alive[:start]]:
            results[candidate.name].seconds.append(_sample(candidate, loops[candidate.name]))
    return results


def _warm_up(candidate: Candidate, result: Measurement, warmup: int, min_sample_s: float) -> int:
    """Run the untimed calls; return how many calls one timed sample needs."""
    result.first_call_s = _sample(candidate, 1)
    last = result.first_call_s
    for _ in range(max(warmup, 1) - 1):
        last = _sample(candidate, 1)
    return max(1, math.ceil(min_sample_s / max(last, 1e-9)))


def _sample(candidate: Candidate, loops: int) -> float:
    """Seconds per call, averaged over ``loops`` back-to-back calls."""
    if candidate.self_timed:
        return sum(float(candidate.run()) for _ in range(loops)) / loops  # type: ignore[arg-type]
    candidate.sync()
    start = time.perf_counter()
    for _ in range(loops):
        candidate.run()
    candidate.sync()
    return (time.perf_counter() - start) / loops


def describe_error(error: BaseException) -> str:
    """The exception type and the first line of its message, short enough for a table cell."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run torch and OpenCV on ``count`` threads (None: as they are), restoring them after."""
    saved = torch.get_num_threads(), cv2.getNumThreads()
    if count is not None:
        torch.set_num_threads(count)
        cv2.setNumThreads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])


def device_sync(device: torch.device) -> Callable[[], None]:
    """A function that waits for queued work on ``device`` (CUDA runs asynchronously)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return _no_sync


def machine_facts(device: torch.device) -> list[tuple[str, str]]:
    """What a reader needs to compare numbers across machines, as (item, value) pairs."""
    facts = [
        ("CPU", cpu_model()),
        ("logical cores", str(os.cpu_count())),
        ("torch threads", str(torch.get_num_threads())),
        ("torch", torch.__version__),
        ("python", platform.python_version()),
        *kernel_facts(),
    ]
    if hasattr(os, "getloadavg"):
        facts.append(("load average (1 min) at start", f"{os.getloadavg()[0]:.2f}"))
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts += [
            ("GPU", f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"),
            ("CUDA", str(torch.version.cuda)),
            ("cuDNN", str(torch.backends.cudnn.version())),
            (
                "TF32 for fp32 convs / matmuls",
                f"{torch.backends.cudnn.allow_tf32} / {torch.backends.cuda.matmul.allow_tf32}",
            ),
        ]
    return facts


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
