"""Smoke tests of the benchmark: tiny runs that produce the expected tables (no timing claims)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from scripts.bench.backbone import compile_problem
from scripts.bench.kernels import bf16_problem, kernel_facts
from scripts.bench.timing import Candidate, measure_interleaved
from scripts.benchmark import main
from tests.helpers import short_run

# One thread: a shared CI machine slows multi-threaded kernels far more than single-threaded ones.
TINY = ["--repeats", "1", "--warmup", "1", "--batch", "2", "--threads", "1"]


@pytest.mark.slow
def test_backbone_section_has_a_row_per_setting(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    argv = ["--sections", "backbone", "--model", "resnest14", "--image-size", "32", *TINY]
    argv += ["--peak-size", "128"]  # emulated bf16 (no AVX512-BF16) takes ~30 s at 2048
    machine, train, infer = main([*argv, "--no-compile", "--out", str(out)])

    assert machine.column("item")[:4] == ["CPU", "logical cores", "torch threads", "torch"]
    assert machine.column("value")[2] == "1"
    assert "ATen CPU capability" in machine.column("item")
    fp32 = ["official fp32 eager", "previous block fp32 eager", "ours fp32 eager", "ours cl"]
    bf16 = ["ours bf16", "previous block cl + bf16", "ours cl + bf16"]
    default = "ours cl + folded"  # the default fp32 inference path: inference only
    folded_bf16 = ["ours cl + bf16 + folded"]
    compiled = ["ours compile", "ours cl + bf16 + compile"]
    # the benchmark's own rule: bf16 rows run only where bf16 has hardware, else are skipped
    bf16_why = bf16_problem(torch.device("cpu"))
    if bf16_why is None:
        train_rows, infer_rows = [*fp32, *bf16], [*fp32, default, *bf16, *folded_bf16]
        train_skipped, infer_skipped = compiled, compiled
    else:
        train_rows, infer_rows = fp32, [*fp32, default]
        train_skipped, infer_skipped = [*bf16, *compiled], [*bf16, *folded_bf16, *compiled]
    assert train.column("setting") == [*train_rows, *train_skipped]
    assert infer.column("setting") == [*infer_rows, *infer_skipped]
    for table, skipped in ((train, train_skipped), (infer, infer_skipped)):
        timed = len(table.column("setting")) - len(skipped)
        assert table.column("x official")[0] == "1.00"
        assert table.column("img/s")[timed:] == ["skipped"] * len(skipped)
        assert all(float(cell.replace(",", "")) > 0 for cell in table.column("img/s")[:timed])
        shares = [float(cell) for cell in table.column("conv+mm % of time")[:timed]]
        assert all(0 < share <= 100 for share in shares)
    peak_note = next(note for note in train.notes if note.startswith("Peak = "))
    if bf16_why is None:
        assert "bf16 — GFLOP/s" not in peak_note
    else:
        assert f"bf16 skipped ({bf16_why})" in peak_note
    # Same weights: ours and the previous block in fp32 give the official logits.
    assert all(float(cell) < 1e-4 for cell in infer.column("max |Δ logit|")[1:3])
    written = out.read_text()
    assert "### Backbone: train step (resnest14, batch 2, 32 px, cpu)" in written
    assert "| ours cl + bf16 |" in written
    assert ("| ours cl + bf16 | skipped |" in written) == (bf16_why is not None)
    assert f"ATen CPU capability | {torch.backends.cpu.get_cpu_capability()}" in written


def test_the_benchmark_compiles_into_the_cache_of_this_cpu_capability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a process under ATEN_CPU_CAPABILITY=avx2 used inductor's cache, a native AVX-512
    process compiling into it generated loops 8 floats apart with unmasked 16-float stores,
    which wrote past their buffers (glibc aborted the benchmark); so it keeps a cache per
    capability, as model.compile=true does."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    compile_problem(torch.device("cpu"))
    capability = torch.backends.cpu.get_cpu_capability().lower()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / f"cpu_{capability}")


def test_bf16_counts_as_emulated_under_an_isa_cap_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ONEDNN_MAX_CPU_ISA=AVX2 (with ATEN_CPU_CAPABILITY=avx2, an AVX2-only CPU's kernels)
    leaves the bf16 rows out, whatever CPUID says."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert "AVX2" in bf16_problem(torch.device("cpu"))
    assert ("oneDNN ISA cap", "AVX2") in kernel_facts()


def test_data_section_compares_each_pipeline_with_pil() -> None:
    _, speed, check = main(["--sections", "data", "--data-files", "2", "--image-size", "32", *TINY])
    names = [
        "imagenet/ours (cv2 + albumentations)",
        "imagenet/PIL reference",
        "ade20k/ours (cv2 + albumentations)",
        "ade20k/PIL reference",
    ]
    assert speed.column("pipeline") == names
    assert speed.column("x PIL")[1::2] == ["1.00", "1.00"]
    assert check.column("image") == ["3x32x32", "3x32x32", "3x480x480", "3x480x480"]
    assert set(check.column("dtype")) == {"float32"}


@pytest.mark.slow
def test_loader_section_has_a_row_per_source_worker_count_and_shipping() -> None:
    argv = ["--sections", "loader", "--loader-images", "8", "--loader-batch", "4", *TINY]
    _, table = main([*argv, "--image-size", "32"])
    sources = ["file tree", "local shards", "S3 shards (127.0.0.1)"]
    shippings = ["float32, normalised in the worker", "uint8, normalised on the device"]
    expected = [
        f"{source}, {workers}, {shipping}"
        for source in sources
        for workers in ("1 worker", "2 workers")
        for shipping in shippings
    ]
    assert table.column("loader") == expected
    rates = [float(cell.replace(",", "")) for cell in table.column("img/s")]
    assert all(rate > 0 for rate in rates)  # every epoch delivered its 8 images
    assert table.column("x file tree")[:4] == ["1.00"] * 4
    per_worker = [float(cell.replace(",", "")) for cell in table.column("img/s per worker")]
    cores = [float(cell.replace(",", "")) for cell in table.column("cores per GPU")]
    # the table prints these three to one decimal: each is up to half a unit from its value,
    # which at the few img/s of a loaded CPU is more than 1 % of a per-worker rate
    half_unit = 0.05
    for rate, worker_rate, core_count in zip(rates[2:4], per_worker[2:4], cores[2:4], strict=True):
        assert worker_rate == pytest.approx(rate / 2, abs=1.5 * half_unit)
        assert core_count == pytest.approx(2500 / worker_rate, rel=2 * half_unit / worker_rate)


def test_e2e_section_reports_lightning_overhead() -> None:
    argv = ["--sections", "e2e", "--e2e-image-size", "32", "--e2e-steps", "2", *TINY]
    _, table = main(argv)
    assert table.column("loop") == ["bare PyTorch loop", "Lightning Trainer + ClassificationModule"]
    assert table.column("overhead %")[0] == "0.0"
    assert table.column("overhead %")[1] != "—"


def test_repeats_are_interleaved_and_failures_become_rows() -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("no compiler\nlong trace")

    candidates = [
        Candidate("a", lambda: calls.append("a"), 1),
        Candidate("b", lambda: calls.append("b"), 1),
        Candidate("broken", broken, 1),
    ]
    results = measure_interleaved(candidates, repeats=3, warmup=1, min_sample_s=0.0)

    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then rotating rounds
    assert len(results["a"].seconds) == len(results["b"].seconds) == 3
    assert results["broken"].failure == "RuntimeError: no compiler"


@pytest.mark.parametrize("sections", ["gpu", "backbone,nope"])
def test_unknown_sections_are_refused(sections: str) -> None:
    with pytest.raises(SystemExit):
        main(["--sections", sections])


@pytest.mark.slow
def test_presets_section_runs_the_users_command_and_reports_its_metric(
    toy_imagenet_root: Path,
) -> None:
    from scripts.bench.presets import presets_section

    overrides = [f"data.root={toy_imagenet_root}", *short_run(2)]
    (table,) = presets_section(["toy_cls"], overrides)
    assert table.column("preset") == ["toy_cls"] and table.column("metric") == ["val/acc1"]
    assert float(table.column("wall s")[0]) > 0 and 0 <= float(table.column("final")[0]) <= 1
