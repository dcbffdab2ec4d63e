"""Two CPU processes (DDP over gloo, ``trainer=ddp_cpu``) against one process.

The toy set here has 21 validation images: not a multiple of 2 processes x batch 4, so a
sampler that pads the last batch (PyTorch's DistributedSampler does) would count some twice.
GroupNorm keeps every sample's output independent of the rest of its batch, so one step on
2 x 4 images must equal one step on the same 8 images in one process.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

from src.data.imagenet import find_classes, list_samples
from src.data.samplers import epoch_plan
from src.data.toy import make_toy_imagenet
from tests.helpers import QUIET, SMALL_CLS, run_entry_point, small_cls_run
from tests.training.wandb_records import run_contents

pytestmark = pytest.mark.slow

SEED = 42  # configs/train.yaml
RECORDING_IO = "tests.distributed.recording_io.RecordingCheckpointIO"


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x (8 training, 7 validation) images."""
    root = tmp_path_factory.mktemp("small") / "imagenet"
    return make_toy_imagenet(root, num_classes=3, train_per_class=8, val_per_class=7)


def _overrides(root: Path, batch_size: int, *extra: str, train_batches: int | None) -> list[str]:
    """The small classifier on ``small_root`` with GroupNorm: a short training run of
    ``train_batches`` batches, or (None) what ``eval.py`` needs."""
    return [
        *(small_cls_run(train_batches) if train_batches else [*SMALL_CLS, QUIET]),
        f"data.root={root}",
        "data.num_classes=3",
        f"data.batch_size={batch_size}",
        "model.backbone.norm_layer=groupnorm",
        "model.backbone.norm_groups=4",
        *extra,
    ]


def _rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))


@pytest.fixture(scope="module")
def one_step(tmp_path_factory: pytest.TempPathFactory, small_root: Path) -> dict[str, Path]:
    """Run directories of the same first step: one process on 8 images, two on 4 each."""
    runs = tmp_path_factory.mktemp("one_step")
    run_entry_point("src/train.py", _overrides(small_root, 8, train_batches=1), runs / "single")
    recording = f"trainer.plugins=[{{_target_:{RECORDING_IO},marker_dir:'{runs / 'writers'}'}}]"
    # the whole train.py path: fit, then the final validation of the best checkpoint, logged
    # to CSV and to W&B (offline), from the folder above the run dirs
    whole = ("test=true", "trainer.log_every_n_steps=1", "logger=[csv,wandb]")
    run_entry_point(
        "src/train.py",
        _overrides(small_root, 4, "trainer=ddp_cpu", recording, *whole, train_batches=1),
        runs / "ddp",
        cwd=runs,
    )
    return {
        "runs": runs,
        "single": runs / "single",
        "ddp": runs / "ddp",
        "writers": runs / "writers",
    }


def test_one_step_on_two_processes_equals_one_process_on_the_same_global_batch(
    one_step: dict[str, Path],
) -> None:
    single, ddp = (
        torch.load(one_step[run] / "checkpoints" / "last.ckpt", weights_only=True)
        for run in ("single", "ddp")
    )
    assert single["global_step"] == ddp["global_step"] == 1
    for name, tensor in single["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_checkpoints_and_logs_are_written_by_rank_zero_only(one_step: dict[str, Path]) -> None:
    writers = sorted(path.name for path in one_step["writers"].iterdir())
    assert writers and all(name.startswith("rank0-") for name in writers), writers
    run_dir = one_step["ddp"]
    assert sorted(path.name for path in (run_dir / "csv").iterdir()) == [
        "hparams.yaml",
        "metrics.csv",
    ]
    assert len([row for row in _rows(run_dir) if row.get("train/loss_epoch")]) == 1
    assert not list(run_dir.rglob("*.tmp"))


def test_a_ddp_run_with_the_final_validation_logs_every_column(one_step: dict[str, Path]) -> None:
    rows = _rows(one_step["ddp"])
    columns = set(rows[0])
    assert {"lr-SGD/decay", "train/loss_step", "train/loss_epoch", "val/acc1"} <= columns
    fit_validation, final_validation = [row for row in rows if row.get("val/acc1")]
    # limit_val_batches=1: one batch of 4 on each of the 2 processes, in both validations
    assert float(fit_validation["val/samples"]) == float(final_validation["val/samples"]) == 8.0
    assert final_validation["val/acc1"] == fit_validation["val/acc1"]  # the same checkpoint
    # logged at that checkpoint's epoch and step, not at the launching process's step 0
    (best,) = (one_step["ddp"] / "checkpoints").glob("epoch_*.ckpt")
    checkpoint = torch.load(best, map_location="cpu", weights_only=True)
    assert int(final_validation["step"]) == checkpoint["global_step"] == 1
    assert int(final_validation["epoch"]) == checkpoint["epoch"]


def test_a_ddp_run_makes_one_offline_wandb_run(one_step: dict[str, Path]) -> None:
    runs = list(one_step["runs"].rglob("run-*.wandb"))  # the run dirs and the working directory
    assert len(runs) == 1, runs
    config, history = run_contents(runs[0])
    assert config["hydra_choices"]["trainer"] == "ddp_cpu"
    assert any("val/acc1" in row for row in history)  # logged from the spawned rank zero


def test_validating_a_checkpoint_on_two_processes_gives_the_one_process_metrics(
    tmp_path: Path, small_root: Path, one_step: dict[str, Path]
) -> None:
    checkpoint = one_step["single"] / "checkpoints" / "last.ckpt"
    overrides = _overrides(small_root, 4, f"ckpt_path={checkpoint}", train_batches=None)
    run_entry_point("src/eval.py", overrides, tmp_path / "single")
    run_entry_point("src/eval.py", [*overrides, "trainer=ddp_cpu"], tmp_path / "ddp")
    single, ddp = (_rows(tmp_path / run)[-1] for run in ("single", "ddp"))
    assert ddp["val/acc1"] == single["val/acc1"] and ddp["val/acc5"] == single["val/acc5"]
    assert float(ddp["val/loss"]) == pytest.approx(float(single["val/loss"]), rel=1e-6)


def test_skip_mode_steps_over_a_batch_that_is_empty_on_one_process(
    tmp_path: Path, small_root: Path
) -> None:
    root = shutil.copytree(small_root, tmp_path / "imagenet")
    samples = list_samples(root, "train", find_classes(root))
    order, _ = epoch_plan(SEED, 0, len(samples))
    first_batch_of_rank0 = [Path(samples[index][0]) for index in order[0::2][:2]]
    for path in first_batch_of_rank0:
        path.write_bytes(b"not an image")
    run_dir = tmp_path / "run"
    overrides = _overrides(root, 2, "trainer=ddp_cpu", "data.on_corrupt=skip", train_batches=2)
    run_entry_point("src/train.py", overrides, run_dir)
    skipped = [float(row["data/skipped"]) for row in _rows(run_dir) if row.get("data/skipped")]
    assert skipped == [2.0]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2
