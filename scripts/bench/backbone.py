"""Backbone section: train-step and inference throughput of ours against the official code.

Candidates share one set of weights (the official model's, loaded into ours) and one batch, and
are timed interleaved with two large matrix multiplies whose medians give the machine's
practical peak in the same conditions; achieved FLOP/s over that peak is the "% of peak".
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from scripts.bench.kernels import bf16_problem
from scripts.bench.official import build_official
from scripts.bench.reference_block import with_reference_blocks
from scripts.bench.timing import (
    Candidate,
    Measurement,
    describe_error,
    device_sync,
    measure_interleaved,
)
from src.models.backbones import create_backbone
from src.models.backbones.complexity import count_macs
from src.models.compiled import use_inductor_cache_of_this_cpu
from src.models.folding import frozen_copy
from src.utils.table import Table, fmt

NUM_CLASSES = 1000
# Large enough to reach the BLAS kernels' steady state, small enough for a quick sample.
PEAK_MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}
# A train step costs about three forward passes: forward, and a backward of twice the work.
TRAIN_FLOPS_PER_FORWARD = 3


@dataclass(frozen=True)
class Setting:
    """One way of running a backbone: whose code, and which fast paths are on.

    ``implementation``: "official" (the resnest package), "ours", or "previous block" (ours with
    the radix sums as strided reductions: ``scripts/bench/reference_block.py``). ``folded``
    (inference only): the frozen-weights copy evaluation runs, BatchNorm folded into the convs
    and the blocks in their inference forms (``src.models.folding.frozen_copy``).
    """

    implementation: str
    channels_last: bool = False
    bf16: bool = False
    compile: bool = False
    folded: bool = False

    @property
    def label(self) -> str:
        flags = (
            ("cl", self.channels_last),
            ("bf16", self.bf16),
            ("folded", self.folded),
            ("compile", self.compile),
        )
        parts = [name for name, on in flags if on]
        return f"{self.implementation} " + (" + ".join(parts) if parts else "fp32 eager")


BASELINE = Setting("official")
PREVIOUS = "previous block"


# How evaluation and prediction run by default in fp32 on CPU (``model.fold_batchnorm=true``):
# the frozen copy in channels_last (src/models/folding.py, ``inference_copy``)
DEFAULT_INFERENCE = Setting("ours", channels_last=True, folded=True)


def settings() -> list[Setting]:
    """The baseline, ours plain, each fast path alone, the default fp32 inference path, all
    eager fast paths together (with the previous block beside them), folded BN, and compile
    alone and with the eager fast paths."""
    fast = {"channels_last": True, "bf16": True}
    return [
        BASELINE,
        Setting(PREVIOUS),
        Setting("ours"),
        Setting("ours", channels_last=True),
        DEFAULT_INFERENCE,
        Setting("ours", bf16=True),
        Setting(PREVIOUS, **fast),
        Setting("ours", **fast),
        Setting("ours", **fast, folded=True),
        Setting("ours", compile=True),
        Setting("ours", **fast, compile=True),
    ]


def compile_problem(device: torch.device) -> str | None:
    """None if ``torch.compile`` (inductor) works here, else why not (e.g. no C++ compiler).

    Every compile of the benchmark follows this check, so it first points inductor at the
    cache of this CPU capability: code cached by a process under another capability (say
    ``ATEN_CPU_CAPABILITY=avx2``) can be wrong here, down to writing past its buffers.
    """
    use_inductor_cache_of_this_cpu()
    try:
        torch.compile(lambda x: torch.relu(x) * 2.0)(torch.randn(8, device=device))
    except Exception as error:  # any backend failure means: no compile on this machine
        return describe_error(error)
    return None


def backbone_section(
    name: str,
    batch: int,
    image_size: int,
    repeats: int,
    warmup: int,
    device: torch.device,
    use_compile: bool = True,
    title: str = "Backbone",
    peak_size: int | None = None,
) -> list[Table]:
    """Tables of train-step and inference img/s for every :func:`settings` row on ``device``;
    the peaks are measured with square matmuls of ``peak_size`` (the device's default size
    from ``PEAK_MATMUL_SIZE`` when None).

    On CUDA, cuDNN autotuning is on (fixed shapes, as in training) for every row alike.
    """
    compile_why = compile_problem(device) if use_compile else "disabled by --no-compile"
    bf16_why = bf16_problem(device)
    skipped = {
        s: why for s in settings() if (why := (s.compile and compile_why) or (s.bf16 and bf16_why))
    }
    rows = [s for s in settings() if s not in skipped]
    sync = device_sync(device)
    with _cudnn_autotune(device.type == "cuda"), warnings.catch_warnings():
        # Inductor explains, once per graph, that it splits the r-softmax's small reduction.
        warnings.filterwarnings("ignore", message=r"\s*Online softmax is disabled")
        steps = _steps(name, batch, image_size, rows, device)
        peaks = peak_candidates(device, peak_size, bf16=bf16_why is None)
        candidates = [
            *(
                Candidate(f"{phase}/{s.label}", step, batch, sync)
                for (phase, s), step in steps.items()
            ),
            *peaks,
        ]
        results = measure_interleaved(candidates, repeats, warmup)
        shares = {
            key: conv_share(steps[key], device)
            for key in steps
            if results[f"{key[0]}/{key[1].label}"].failure is None
        }
        infer = {s: step for (phase, s), step in steps.items() if phase == "infer"}
        ran = [s for s in infer if ("infer", s) in shares]
        deltas = _output_deltas(infer, ran) if BASELINE in ran else {}

    fp32_peak, bf16_peak = (
        None if c is None or results[c.name].failure else results[c.name].rate
        for c in (peaks + [None])[:2]
    )
    macs = count_macs(lambda: create_backbone(name, num_classes=NUM_CLASSES), image_size)
    where = f"{name}, batch {batch}, {image_size} px, {device.type}"
    tables = []
    for phase, flops in (("train", TRAIN_FLOPS_PER_FORWARD * 2 * macs), ("infer", 2 * macs)):
        phase_rows = [s for s in rows if (phase, s) in steps]
        table = _phase_table(
            f"{title}: {'train step' if phase == 'train' else 'inference'} ({where})",
            [results[f"{phase}/{s.label}"] for s in phase_rows],
            flops,
            fp32_peak,
            bf16_peak,
            {s.label: shares[phase, s] for s in phase_rows if (phase, s) in shares},
            deltas if phase == "infer" else None,
        )
        for setting, why in skipped.items():
            if phase == "infer" or not setting.folded:
                table.add_unmeasured(setting.label, "skipped", why)
        tables.append(table)
    tables[0].notes += _peak_notes(device, fp32_peak, bf16_peak, macs, results, bf16_why)
    tables[1].notes.append(
        f"{DEFAULT_INFERENCE.label} is how evaluation and prediction run in fp32 by default "
        "(model.fold_batchnorm=true)."
    )
    return tables


@contextmanager
def _cudnn_autotune(enabled: bool) -> Iterator[None]:
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


Step = Callable[[], object]


def _steps(
    name: str, batch: int, image_size: int, rows: list[Setting], device: torch.device
) -> dict[tuple[str, Setting], Step]:
    """("train" | "infer", setting) -> its step, each on its own copy of the same weights;
    folded settings infer only (a folded network does not train)."""
    torch.manual_seed(0)
    official = build_official(name, NUM_CLASSES)
    ours = create_backbone(name, num_classes=NUM_CLASSES)
    ours.load_state_dict(official.state_dict())
    sources = {"official": official, "ours": ours, PREVIOUS: with_reference_blocks(ours)}
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, image_size, image_size, generator=generator).to(device)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=generator).to(device)
    steps: dict[tuple[str, Setting], Step] = {}
    for setting in rows:
        inputs = _layout(images, setting)
        if not setting.folded:
            model = _copy(sources, setting, device)
            steps["train", setting] = _train_step(model, setting, inputs, labels)
        model = _copy(sources, setting, device)
        if setting.folded:
            model = frozen_copy(model, inputs)
        steps["infer", setting] = _inference_step(model, setting, inputs)
    return steps


def _copy(sources: dict[str, nn.Module], setting: Setting, device: torch.device) -> nn.Module:
    model = copy.deepcopy(sources[setting.implementation]).to(device)
    if setting.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


# Profiler op names of the work itself: convolutions (ATen, oneDNN, cuDNN, inductor's externs)
# and matrix multiplies; everything else is the time the share column calls "other".
CONV_OR_MATMUL = re.compile(r"conv|(^|::)(add)?b?mm$|matmul|gemm", re.IGNORECASE)
PROFILED_CALLS = 2


def conv_share(step: Step, device: torch.device) -> float:
    """Percent of the profiled op time (self time, CPU or GPU) of ``PROFILED_CALLS`` calls of
    ``step`` spent in convolutions and matmuls."""
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as profiler:
        for _ in range(PROFILED_CALLS):
            step()
        device_sync(device)()
    attribute = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in profiler.key_averages() if getattr(e, attribute) > 0]
    total = sum(getattr(e, attribute) for e in events)
    work = sum(getattr(e, attribute) for e in events if CONV_OR_MATMUL.search(e.key))
    return 100 * work / total if total else float("nan")


def _layout(images: torch.Tensor, setting: Setting) -> torch.Tensor:
    layout = torch.channels_last if setting.channels_last else torch.contiguous_format
    return images.contiguous(memory_format=layout)


def _autocast(setting: Setting, device: torch.device) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=setting.bf16)


def _train_step(
    model: nn.Module, setting: Setting, images: torch.Tensor, labels: torch.Tensor
) -> Callable[[], None]:
    """Forward, cross-entropy, backward and an SGD-momentum update, as in training."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    forward = torch.compile(model) if setting.compile else model

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(setting, images.device):
            loss = F.cross_entropy(forward(images), labels)
        loss.backward()
        optimizer.step()

    return step


def _inference_step(
    model: nn.Module, setting: Setting, images: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """Eval-mode forward under ``torch.inference_mode``, as Lightning's evaluation and
    prediction run (``Trainer(inference_mode=True)``, its default)."""
    model.eval()
    forward = torch.compile(model) if setting.compile else model

    def step() -> torch.Tensor:
        with torch.inference_mode(), _autocast(setting, images.device):
            return forward(images)

    return step


def peak_candidates(
    device: torch.device, size: int | None = None, bf16: bool = True
) -> list[Candidate]:
    """fp32 and (with ``bf16``) bf16 square matmuls of ``size`` (the device's default when
    None); ``items`` counts FLOPs, so their rate is FLOP/s."""
    size = size or PEAK_MATMUL_SIZE[device.type]
    generator = torch.Generator().manual_seed(1)
    candidates = []
    for dtype in (torch.float32, torch.bfloat16)[: 2 if bf16 else 1]:
        a, b = (torch.randn(size, size, generator=generator).to(device, dtype) for _ in "ab")
        candidates.append(
            Candidate(
                f"peak/{str(dtype).removeprefix('torch.')} matmul",
                lambda a=a, b=b: torch.mm(a, b),
                2 * size**3,
                device_sync(device),
            )
        )
    return candidates


def _output_deltas(infer: dict[Setting, Step], ran: list[Setting]) -> dict[str, float]:
    """Largest absolute logit difference of each setting that ran from the official model's."""
    reference = infer[BASELINE]().float()
    return {s.label: (infer[s]().float() - reference).abs().max().item() for s in ran}


def _phase_table(
    title: str,
    measurements: list[Measurement],
    flops_per_image: float,
    fp32_peak: float | None,
    bf16_peak: float | None,
    shares: dict[str, float],
    deltas: dict[str, float] | None,
) -> Table:
    columns = ["setting", "img/s", "x official", "GFLOP/s", "% fp32 peak", "MFU (% bf16 peak)"]
    columns += ["conv+mm % of time", "spread %", "first call (s)"]
    if deltas is not None:
        columns.append("max |Δ logit|")
    table = Table(title=title, columns=columns)
    baseline = measurements[0]
    for result in measurements:
        label = result.name.split("/", 1)[1]
        if result.failure:
            table.add_unmeasured(label, "failed", result.failure)
            continue
        achieved = result.rate * flops_per_image
        cells = [
            label,
            fmt(result.rate, 1),
            fmt(result.rate / baseline.rate) if baseline.failure is None else "—",
            fmt(achieved / 1e9, 1),
            fmt(_percent(achieved, fp32_peak), 1),
            fmt(_percent(achieved, bf16_peak), 1),
            fmt(shares.get(label), 0),
            fmt(100 * result.spread, 0),
            fmt(result.first_call_s, 2),
        ]
        if deltas is not None:
            cells.append(f"{deltas[label]:.1e}" if label in deltas else "—")
        table.add_row(*cells)
    timed = [m for m in measurements if m.failure is None]
    if timed and baseline.failure is None:
        fastest = max(timed, key=lambda m: m.rate)
        table.notes.append(
            f"fastest: {fastest.name.split('/', 1)[1]}, "
            f"{fastest.rate / baseline.rate:.2f}x the official code"
        )
    return table


def _percent(achieved: float, peak: float | None) -> float | None:
    return None if peak is None else 100 * achieved / peak


def _peak_notes(
    device: torch.device,
    fp32_peak: float | None,
    bf16_peak: float | None,
    macs: int,
    results: dict[str, Measurement],
    bf16_why: str | None,
) -> list[str]:
    size = PEAK_MATMUL_SIZE[device.type]
    peaks = ", ".join(
        f"{dtype} skipped ({bf16_why})"
        if dtype == "bf16" and bf16_why
        else f"{dtype} {fmt(None if peak is None else peak / 1e9, 0)} GFLOP/s"
        for dtype, peak in (("fp32", fp32_peak), ("bf16", bf16_peak))
    )
    failures = [
        f"{m.name} failed: {m.failure}"
        for m in results.values()
        if m.failure and m.name.startswith("peak/")
    ]
    return [
        "cl = channels_last memory format, bf16 = torch.autocast(bfloat16), "
        "compile = torch.compile (inductor, default mode), folded = BatchNorm folded into the "
        "convs and the blocks' in-place inference forms (as evaluation runs), previous block = the radix sums as strided reductions. "
        "Same weights and batch for every row.",
        f"conv+mm % of time: share of the profiled op self time ({PROFILED_CALLS} calls, "
        "torch.profiler) in convolutions and matmuls; the rest is normalisation, activations, "
        "the attention's elementwise work, copies and dtype casts.",
        "img/s and GFLOP/s: median of interleaved repeats; spread = (max - min) / median; "
        "first call includes compilation.",
        f"FLOPs per image: 2 x {macs / 1e9:.2f} GMACs for inference, x{TRAIN_FLOPS_PER_FORWARD} "
        "for a train step (backward ~ 2 x forward).",
        f"Peak = median of interleaved {size}x{size} matmuls in the same run: {peaks}.",
        *([f"bf16 rows skipped: {bf16_why}."] if bf16_why else []),
        *_tf32_note(device),
        *failures,
    ]


def _tf32_note(device: torch.device) -> list[str]:
    if device.type != "cuda" or not torch.backends.cudnn.allow_tf32:
        return []
    return [
        "cuDNN runs fp32 convolutions in TF32 (torch.backends.cudnn.allow_tf32), so fp32 rows "
        "can pass the fp32 matmul peak; the bf16 peak is the meaningful ceiling (MFU)."
    ]
