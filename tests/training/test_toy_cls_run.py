"""The toy_cls preset trains to a useful classifier on CPU, as the README's first command
promises (its wall time is the benchmark's: ``python -m scripts.benchmark --sections presets``),
here from local shards of its tree (``data.format=shards``), which train as the tree does.
The run is a session fixture (tests/training/conftest.py); every test that reads it lives here,
so that a test worker trains it once."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from scripts.bench.presets import PRESET_TARGETS
from scripts.compare import main as compare_main
from scripts.export import best_checkpoint
from scripts.export import main as export_main
from src.callbacks.time_account import ACTIVITIES, DATA_WAIT_SHARE, EPOCH, metric_name
from src.models.backbones import create_backbone
from src.pipeline import load_trained
from tests.helpers import QUIET, Run, last_logged, run_entry_point
from tests.oracles.torchvision_placeholder import install as install_torchvision_placeholder
from tests.training.resume_checks import file_hashes

pytestmark = pytest.mark.slow


def test_toy_classification_learns_from_local_shards(toy_cls_run: Run) -> None:
    # how long it takes is measured by `python -m scripts.benchmark --sections presets`, how
    # far the metric moves with seeds and CPUs by `python -m scripts.preset_spread`
    data = yaml.safe_load((toy_cls_run.run_dir / "config_resolved.yaml").read_text())["data"]
    assert data["format"] == "shards" and Path(data["root"]).is_dir()
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


def test_every_epoch_of_the_run_has_its_time_account_in_the_log_and_the_final_table(
    toy_cls_run: Run,
) -> None:
    run_dir = toy_cls_run.run_dir
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    accounts = [row for row in rows if row.get(metric_name(EPOCH))]
    trainer = yaml.safe_load((run_dir / "config_resolved.yaml").read_text())["trainer"]
    assert [int(row["epoch"]) for row in accounts] == list(range(trainer["max_epochs"]))
    for row in accounts:
        parts = [float(row[metric_name(activity)]) for activity in ACTIVITIES]
        assert min(parts) >= 0 and float(row[metric_name("step")]) > 0
        assert sum(parts) == pytest.approx(float(row[metric_name(EPOCH)]), rel=1e-6)
        assert float(row[metric_name("checkpoint")]) > 0  # last.ckpt at every epoch's end
    final_table = toy_cls_run.stdout[toy_cls_run.stdout.index("train: final metrics") :]
    assert all(metric_name(part) in final_table for part in (*ACTIVITIES, DATA_WAIT_SHARE))


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


def test_an_exported_run_loads_in_timm_and_back_in_the_project_with_the_runs_logits(
    toy_cls_run: Run, tmp_path: Path
) -> None:
    """timm is the oracle: it builds the exported architecture from config.json and loads
    model.safetensors; both it and the project give the run's own logits."""
    install_torchvision_placeholder()
    import timm

    out = tmp_path / "exported"
    export_main([str(toy_cls_run.run_dir), str(out)])
    module, _ = load_trained(best_checkpoint(toy_cls_run.run_dir))
    config = json.loads((out / "config.json").read_text())
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module.backbone(images)
        oracle = timm.create_model(
            config["architecture"],
            pretrained=True,
            num_classes=config["num_classes"],
            pretrained_cfg_overlay={
                **config["pretrained_cfg"],
                "file": str(out / "model.safetensors"),
            },
            **config["model_args"],
        ).eval()
        torch.testing.assert_close(oracle(images), expected, rtol=0, atol=1e-5)
        backbone = toy_cls_run_backbone(out, config["num_classes"])
        torch.testing.assert_close(backbone(images), expected, rtol=0, atol=1e-5)
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]
    run_id = (toy_cls_run.run_dir / "run.yaml").read_text().split("id: ", 1)[1].split()[0]
    assert f"run {run_id}" in (out / "README.md").read_text()


def toy_cls_run_backbone(folder: Path, num_classes: int) -> torch.nn.Module:
    """The toy_cls backbone (configs/experiment/toy_cls.yaml) from an exported folder."""
    return create_backbone(
        "resnest14",
        pretrained=str(folder),
        stem_width=16,
        bottleneck_width=16,
        num_classes=num_classes,
    ).eval()


def test_compare_reads_the_run_without_writing_and_leaves_out_a_half_written_line(
    toy_cls_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = toy_cls_run.run_dir
    before = file_hashes(run_dir)
    compare_main([str(run_dir), "--plot", str(tmp_path / "whole.png")])
    assert file_hashes(run_dir) == before
    whole = capsys.readouterr().out
    # a copy whose metrics.csv is being written (its last line cut short), as a running run's
    copy = tmp_path / "running"
    (copy / "csv").mkdir(parents=True)
    for name in ("config_resolved.yaml", "run.yaml", "csv/metrics.csv"):
        shutil.copy(run_dir / name, copy / name)
    with (copy / "csv" / "metrics.csv").open("a") as file:
        file.write(",9,,,999,0.5")
    compare_main(
        [str(copy), "--plot", str(tmp_path / "running.png"), "--csv", str(tmp_path / "t.csv")]
    )
    (row,) = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert row["epochs"] == "5/5" and row["steps"] == "250"
    # the best checkpoint's validation, logged last, is the best epoch's
    assert float(row["best val/acc1"]) == pytest.approx(last_logged(run_dir, "val/acc1"), abs=1e-4)
    assert (
        row["final val/acc1"] in whole and (tmp_path / "running.png").read_bytes()[:4] == b"\x89PNG"
    )
