"""A run fed from shards, SIGKILLed mid-epoch and resumed with ``ckpt_path=last``, ends with the
weights, optimiser state and ``metrics.csv`` of the same run never interrupted: litdata's
loader position travels in the checkpoint with the datamodule's state, so the resumed epoch
sees exactly the batches (samples and augmentation) that the uninterrupted one saw."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scripts.make_shards import main as make_shards
from tests.helpers import run_entry_point, small_cls_run
from tests.training.resume_checks import assert_same_history, assert_same_weights, start_stalled

pytestmark = pytest.mark.slow

EPOCHS, BATCHES = 2, 5  # of the 8 batches of 8 that the 64 training samples make
STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"
NEVER = 10**6


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path) -> Path:
    out = tmp_path_factory.mktemp("shards") / "imagenet"
    make_shards(["data=toy_imagenet", f"data.root={small_toy_imagenet_root}", f"out={out}"])
    return out


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


def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(
    tmp_path: Path, shards: Path
) -> None:
    uninterrupted = tmp_path / "uninterrupted"
    run_entry_point(
        "src/train.py", [*_overrides(shards), f"+callbacks.stall.step={NEVER}"], uninterrupted
    )
    resumed = tmp_path / "resumed"
    overrides = [*_overrides(shards), "ckpt_path=last"]
    process, _ = start_stalled(7, overrides, resumed)  # loses step 7 of the second epoch
    process.kill()
    process.wait()
    process.stdout.close()
    killed = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert (killed["global_step"], killed["epoch"]) == (6, 1)
    position = killed["ImageNetDataModule"]["train_loader"]
    assert (position["current_epoch"], position["num_samples_yielded"]) == (2, 8)
    output = run_entry_point(
        "src/train.py", [*overrides, f"+callbacks.stall.step={NEVER}"], resumed
    ).output
    assert "Resuming from" in output
    assert_same_weights(uninterrupted, resumed, EPOCHS * BATCHES)
    assert_same_history(uninterrupted, resumed)
