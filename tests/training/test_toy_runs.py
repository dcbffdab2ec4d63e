"""The toy presets train to a useful model on CPU, as the README's first command promises
(their wall time is the benchmark's: ``python -m scripts.benchmark --sections presets``).
The runs themselves are session fixtures (tests/training/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scripts.bench.presets import PRESET_TARGETS
from tests.helpers import QUIET, Run, last_logged, run_entry_point

pytestmark = pytest.mark.slow


def test_toy_classification_learns(toy_cls_run: Run) -> None:
    # how long it takes is measured by `python -m scripts.benchmark --sections presets`, how
    # far the metric moves with seeds and CPUs by `python -m scripts.preset_spread`
    metric, bound = PRESET_TARGETS["toy_cls"]
    assert last_logged(toy_cls_run.run_dir, metric) >= bound  # chance: 1/8


def test_toy_classification_writes_checkpoints_config_and_plot(toy_cls_run: Run) -> None:
    run_dir = toy_cls_run.run_dir
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert "`weights_only` was not set" not in toy_cls_run.output  # every save says what it keeps
    assert (run_dir / "plots" / "metrics.png").stat().st_size > 0
    choices = (run_dir / "hydra_choices.yaml").read_text()
    assert "experiment: toy_cls" in choices and "model: classification" in choices
    assert "name: resnest14" in (run_dir / "config_resolved.yaml").read_text()
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["backbone"]["name"] == "resnest14"


def test_eval_prints_a_metrics_table_for_the_checkpoint(
    toy_cls_run: Run, toy_imagenet_root: Path, tmp_path: Path
) -> None:
    checkpoint = toy_cls_run.run_dir / "checkpoints" / "last.ckpt"
    result = run_entry_point(
        "src/eval.py",
        ["experiment=toy_cls", f"data.root={toy_imagenet_root}", f"ckpt_path={checkpoint}", QUIET],
        tmp_path / "eval",
    )
    assert "evaluation" in result.output and "val/acc1" in result.output


def test_toy_segmentation_learns(toy_seg_run: Run) -> None:
    metric, bound = PRESET_TARGETS["toy_seg"]
    assert last_logged(toy_seg_run.run_dir, metric) >= bound  # one class everywhere: ~0.06
    samples = sorted((toy_seg_run.run_dir / "val_samples").glob("*.png"))
    assert samples, "validation samples (image | ground truth | prediction) were not written"


def test_eval_multiscale_flip_on_the_toy_checkpoint(
    toy_seg_run: Run, toy_ade20k_root: Path, tmp_path: Path
) -> None:
    checkpoint = toy_seg_run.run_dir / "checkpoints" / "last.ckpt"
    result = run_entry_point(
        "src/eval.py",
        [
            "experiment=toy_seg",
            "inference=ms_flip",
            f"data.root={toy_ade20k_root}",
            f"ckpt_path={checkpoint}",
            "++trainer.limit_val_batches=1",  # one batch of 8 images shows the whole protocol
            QUIET,
        ],
        tmp_path / "eval",
    )
    assert "Per-class IoU" in result.output and "val/miou" in result.output
