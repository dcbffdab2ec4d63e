"""Corrupt files in a whole run (tests/data covers each kind of bad file):
``data.on_corrupt=skip`` completes, counts them in training and validation (and the results
table says what the validation figures cover) and steps over a batch left empty; ``error``
stops naming the file, and the checkpoints written before the crash still load."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from src.data.imagenet import find_classes, list_samples
from src.data.samplers import epoch_plan
from src.data.toy import make_toy_imagenet
from src.utils.checkpoint_io import AtomicCheckpointIO
from tests.helpers import run_entry_point, small_cls_run

pytestmark = pytest.mark.slow

SEED = 42  # configs/train.yaml


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    """A toy ImageNet of 2 classes x 8 training images, ours to damage."""
    return make_toy_imagenet(tmp_path / "data", num_classes=2, train_per_class=8, val_per_class=2)


def _overrides(root: Path, *extra: str) -> list[str]:
    return [
        *small_cls_run(4),
        f"data.root={root}",
        "data.num_classes=2",
        "data.batch_size=2",
        *extra,
    ]


def _first_epoch_order(root: Path) -> list[Path]:
    """Training files in the order the first epoch reads them (one process)."""
    samples = list_samples(root, "train", find_classes(root))
    order, _ = epoch_plan(SEED, 0, len(samples))
    return [Path(samples[index][0]) for index in order]


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\xff\xd8 this is not a JPEG")


def test_skip_completes_counts_and_steps_over_an_empty_batch(
    tmp_path: Path, small_root: Path
) -> None:
    bad = _first_epoch_order(small_root)[:2]  # both samples of the first batch
    bad_val = Path(list_samples(small_root, "val", find_classes(small_root))[0][0])
    for path in [*bad, bad_val]:  # the one validation batch (limit 1) keeps 1 of its 2 images
        _corrupt(path)
    run_dir = tmp_path / "run"
    output = run_entry_point(
        "src/train.py", _overrides(small_root, "data.on_corrupt=skip"), run_dir
    ).output
    for path in [*bad, bad_val]:
        assert output.count(f"Skipping corrupt sample '{path}'") == 1
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    epoch_end = [row for row in rows if row.get("data/skipped")]
    assert [float(row["data/skipped"]) for row in epoch_end] == [2.0]
    assert [float(row["train/samples"]) for row in epoch_end] == [6.0]  # 4 batches of 2, less 2
    assert torch.isfinite(torch.tensor(float(epoch_end[0]["train/loss_epoch"])))
    validation = [row for row in rows if row.get("val/skipped")]
    assert [(float(r["val/samples"]), float(r["val/skipped"])) for r in validation] == [(1.0, 1.0)]
    assert "val/* cover 1 images: 1 unreadable images were skipped" in " ".join(output.split())
    checkpoint = AtomicCheckpointIO().load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["state_dict"].values())


def test_error_names_the_file_and_earlier_checkpoints_still_load(
    tmp_path: Path, small_root: Path
) -> None:
    bad = _first_epoch_order(small_root)[4]  # in the third batch: steps 1 and 2 complete
    _corrupt(bad)
    run_dir = tmp_path / "run"
    overrides = _overrides(small_root, "callbacks.last_checkpoint.every_n_train_steps=1")
    output = run_entry_point("src/train.py", overrides, run_dir, succeed=False).output
    assert f"Corrupt sample '{bad}'" in output and "data.on_corrupt=skip" in output
    checkpoint = AtomicCheckpointIO().load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == 2
