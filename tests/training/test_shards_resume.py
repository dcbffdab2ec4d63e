"""A run fed from shards, SIGKILLed mid-epoch and resumed with ``ckpt_path=last``, trains on
exactly the samples of the same run never interrupted: the interrupted epoch's samples up to
the checkpoint plus those after the resume are that epoch's samples, none twice (each noted as
the step takes it, with its augmentation). It ends with the uninterrupted run's weights,
optimiser state and ``metrics.csv``: litdata's loader position travels in the checkpoint with
the datamodule's state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import run_entry_point, small_cls_run
from tests.training.record_trained_samples import TrainedSample, read_trained, recording_to
from tests.training.resume_checks import assert_same_history, assert_same_weights, start_stalled

pytestmark = pytest.mark.slow

EPOCHS, BATCHES = 2, 5  # of the 8 batches of 8 that the 64 training samples make
STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"
NEVER = 10**6


def _overrides(shards: Path) -> list[str]:
    return [
        *small_cls_run(BATCHES, EPOCHS),
        f"data.root={shards}",
        "data.format=shards",
        "data.num_workers=2",  # litdata's state covers which worker serves the next batch
        "trainer.deterministic=true",
        "callbacks.last_checkpoint.every_n_train_steps=3",  # steps 3, 5 (epoch end), 6, 9
        "trainer.log_every_n_steps=1",
        STALL,
    ]


def _in_epoch(samples: list[TrainedSample], epoch: int) -> list[str]:
    return [sample.digest for sample in samples if sample.epoch == epoch]


def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(
    tmp_path: Path, small_imagenet_shards: Path
) -> None:
    notes = {part: tmp_path / f"{part}.txt" for part in ("uninterrupted", "killed", "resumed")}
    uninterrupted = tmp_path / "uninterrupted"
    overrides = [*_overrides(small_imagenet_shards), f"+callbacks.stall.step={NEVER}"]
    overrides += recording_to(notes["uninterrupted"])
    run_entry_point("src/train.py", overrides, uninterrupted)
    resumed = tmp_path / "resumed"
    overrides = [*_overrides(small_imagenet_shards), "ckpt_path=last"]
    killed_part = [*overrides, *recording_to(notes["killed"])]
    process, _ = start_stalled(7, killed_part, resumed)  # loses step 7 of the second epoch
    process.kill()
    process.wait()
    process.stdout.close()
    killed = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert (killed["global_step"], killed["epoch"]) == (6, 1)
    position = killed["ImageNetDataModule"]["train_loader"]
    assert (position["current_epoch"], position["num_samples_yielded"]) == (2, 8)
    # what the killed part trained up to its checkpoint (it had started step 7 when killed)
    before = [s for s in read_trained(notes["killed"]) if s.step < killed["global_step"]]
    overrides += [f"+callbacks.stall.step={NEVER}", *recording_to(notes["resumed"])]
    output = run_entry_point("src/train.py", overrides, resumed).output
    assert "Resuming from" in output
    after = read_trained(notes["resumed"])
    assert after[0].step == killed["global_step"]
    expected = read_trained(notes["uninterrupted"])
    for epoch in range(EPOCHS):
        trained = _in_epoch(before, epoch) + _in_epoch(after, epoch)
        assert trained == _in_epoch(expected, epoch)  # the same samples, in the same order
        assert len(set(trained)) == len(trained) == BATCHES * 8  # none twice
    assert_same_weights(uninterrupted, resumed, EPOCHS * BATCHES)
    assert_same_history(uninterrupted, resumed)
