"""Training from shards on two CPU processes (``trainer=ddp_cpu``): in each of two epochs the
ranks see disjoint halves of the training samples and, together, every one of them once (64
samples make 2 x 4 whole batches of 8, so none is left out), and both cross the epoch boundary;
every validation sample is decoded on exactly one rank; and validating a checkpoint on two
processes gives the one-process figures. A run killed mid-epoch on two processes is not resumed
on one: it is refused before training, naming both counts and the way out."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import QUIET, SMALL_CLS, run_entry_point, small_cls_run
from tests.training.resume_checks import last_checkpoint, start_stalled

pytestmark = pytest.mark.slow

RECORDING = "data._target_=tests.distributed.recording_data.RecordingImageNetDataModule"
STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"


EPOCHS = 2


def _overrides(shards: Path) -> list[str]:
    return [
        *small_cls_run(8, EPOCHS),  # whole epochs: 64 samples, 2 processes x 4 batches of 8
        f"data.root={shards}",
        "data.format=shards",
        "++trainer.num_sanity_val_steps=0",
        "++trainer.limit_val_batches=1.0",  # every validation sample
    ]


def _seen(notes: Path) -> list[str]:
    return notes.read_text().splitlines() if notes.exists() else []


def _last_row(run_dir: Path) -> dict[str, str]:
    return list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))[-1]


def test_each_sample_once_per_epoch_across_two_processes(
    tmp_path: Path, small_imagenet_shards: Path
) -> None:
    record = tmp_path / "seen"
    overrides = [
        *_overrides(small_imagenet_shards),
        "trainer=ddp_cpu",
        RECORDING,
        f"+data.record_dir={record}",
    ]
    run_entry_point("src/train.py", overrides, tmp_path / "ddp")
    train = [_seen(record / f"train-rank{rank}.txt") for rank in (0, 1)]
    assert len(train[0]) == len(train[1]) == 32 * EPOCHS
    for epoch in range(EPOCHS):
        first, second = (seen[32 * epoch : 32 * (epoch + 1)] for seen in train)
        assert not set(first) & set(second) and len(set(first + second)) == 64
    assert train[0][:32] != train[0][32:]  # another order in the second epoch
    val = _seen(record / "val-rank0.txt") + _seen(record / "val-rank1.txt")
    assert len(set(val)) == 32 and set(Counter(val).values()) == {EPOCHS}
    # the same checkpoint validated on one process and on two: the same figures
    checkpoint = tmp_path / "ddp" / "checkpoints" / "last.ckpt"
    evaluate = [*SMALL_CLS, QUIET, f"data.root={small_imagenet_shards}", "data.format=shards"]
    evaluate.append(f"ckpt_path={checkpoint}")
    run_entry_point("src/eval.py", evaluate, tmp_path / "single")
    run_entry_point("src/eval.py", [*evaluate, "trainer=ddp_cpu"], tmp_path / "pair")
    single, pair = _last_row(tmp_path / "single"), _last_row(tmp_path / "pair")
    assert pair["val/acc1"] == single["val/acc1"]
    assert float(pair["val/loss"]) == pytest.approx(float(single["val/loss"]), rel=1e-6)


def test_a_two_process_run_killed_mid_epoch_is_not_resumed_on_one(
    tmp_path: Path, small_imagenet_shards: Path
) -> None:
    run_dir = tmp_path / "run"
    common = [
        *_overrides(small_imagenet_shards),
        "callbacks.last_checkpoint.every_n_train_steps=2",
        STALL,
    ]
    process, _ = start_stalled(3, [*common, "ckpt_path=last", "trainer=ddp_cpu"], run_dir)
    process.kill()
    process.wait()
    process.stdout.close()
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert last_checkpoint(run_dir)["global_step"] == 2  # mid-epoch: 2 of 4 steps
    # the run's own directory refuses first; a new run from the checkpoint file reaches the
    # loader, which refuses too
    again = [*common, "+callbacks.stall.step=1000000"]
    refused = run_entry_point("src/train.py", [*again, "ckpt_path=last"], run_dir, succeed=False)
    assert "was trained on 2 processes" in refused.output
    assert "model.pretrained=<checkpoint>" in refused.output
    elsewhere = [*again, f"ckpt_path={checkpoint}"]
    refused = run_entry_point("src/train.py", elsewhere, tmp_path / "new", succeed=False)
    assert "written by a run on 2 processes and this resume runs on 1" in refused.output
    assert not (tmp_path / "new" / "checkpoints" / "last.ckpt").exists()  # nothing trained
