"""The toy_cls preset trains to a useful classifier on CPU, as the README's first command
promises (its wall time is the benchmark's: ``python -m scripts.benchmark --sections presets``).
The run is a session fixture (tests/training/conftest.py); every test that reads it lives here,
so that a test worker trains it once."""

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
