"""A run SIGKILLed mid-epoch and resumed ends exactly where an uninterrupted run ends: weights,
EMA weights, optimiser state, step count, metrics, and a ``metrics.csv`` with every row once.

Both ways of resuming are checked: ``ckpt_path=last`` with the run directory pinned (what the
cluster launchers do on a requeue or restart) and ``resume=<run id>`` / ``resume=latest`` (what a
user types). The run exercises every piece of state a resume must restore: the LR schedule
(warmup then cosine), EMA, the DropBlock ramp and masks, mixup draws, the data order and
augmentation (with loader workers), mid-epoch loader position.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scripts.compare import main as compare_main
from tests.helpers import run_entry_point, small_cls_run
from tests.training.resume_checks import (
    assert_same_history,
    assert_same_weights,
    last_checkpoint,
    rows,
    start_stalled,
)

pytestmark = pytest.mark.slow

EPOCHS, BATCHES = 2, 5  # 10 steps
CHECKPOINT_EVERY = 3  # last.ckpt after steps 3, 5 (epoch end), 6 and 9
KILL_BEFORE = 8  # the kill loses steps 7 and 8 of epoch 1, which the resume must redo
STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"
NEVER = 10**6  # a stall step no run reaches
TENSORBOARD_TOO = "logger=[csv,tensorboard]"


def _overrides(data_root: Path) -> list[str]:
    return [
        *small_cls_run(BATCHES, EPOCHS),
        f"data.root={data_root}",
        "data.num_workers=2",
        "trainer.deterministic=true",
        "callbacks=ema",
        "callbacks.ema.decay=0.8",
        f"callbacks.last_checkpoint.every_n_train_steps={CHECKPOINT_EVERY}",
        "model.lr_schedule.warmup_epochs=1",
        "model.mixup_alpha=0.2",
        "model.backbone.dropblock_prob=0.2",
        "trainer.log_every_n_steps=1",  # a row per step: the CSV check sees every one
    ]


def _kill_at(step: int, overrides: list[str], run_dir: Path | None) -> None:
    """Start the run, wait until it is about to take step ``step + 1``, SIGKILL it."""
    process, _ = start_stalled(step, overrides, run_dir)
    process.kill()
    process.wait()
    process.stdout.close()


def _assert_same_final_state(expected_dir: Path, actual_dir: Path) -> None:
    assert_same_weights(expected_dir, actual_dir, EPOCHS * BATCHES)
    expected, actual = last_checkpoint(expected_dir), last_checkpoint(actual_dir)
    ema = expected["current_model_state"]  # the raw weights, beside the EMA ones
    assert ema.keys() == actual["current_model_state"].keys()
    for name, tensor in ema.items():
        torch.testing.assert_close(
            actual["current_model_state"][name], tensor, rtol=0, atol=1e-6, msg=name
        )
    assert_same_history(expected_dir, actual_dir)
    # what plots/metrics.png is drawn from covers the whole run, not the part after the resume
    (plot,) = [key for key in expected["callbacks"] if key.startswith("MetricsPlot")]
    mine, theirs = actual["callbacks"][plot]["history"], expected["callbacks"][plot]["history"]
    assert mine.keys() == theirs.keys() and len(theirs["val/acc1"]) == EPOCHS
    for name, points in theirs.items():
        assert [epoch for epoch, _ in mine[name]] == [epoch for epoch, _ in points]
        assert [value for _, value in mine[name]] == pytest.approx([v for _, v in points], abs=1e-6)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path) -> Path:
    """The run directory of the same run, never interrupted."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    overrides = [*_overrides(small_toy_imagenet_root), STALL, f"+callbacks.stall.step={NEVER}"]
    run_entry_point("src/train.py", overrides, run_dir)
    return run_dir


def test_sigkill_mid_epoch_then_ckpt_path_last_in_the_pinned_dir_matches(
    tmp_path: Path, small_toy_imagenet_root: Path, uninterrupted: Path
) -> None:
    overrides = [*_overrides(small_toy_imagenet_root), STALL, "ckpt_path=last"]
    resumed_dir = tmp_path / "resumed"
    _kill_at(KILL_BEFORE, overrides, resumed_dir)
    killed = torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert killed["global_step"] == 6 and killed["epoch"] == 1  # mid-epoch checkpoint
    assert killed["ImageNetDataModule"] == {
        "train_loader": {"epoch": 1, "batches": 1, "processes": 1}
    }
    resumed = [*overrides, f"+callbacks.stall.step={NEVER}"]
    output = run_entry_point("src/train.py", resumed, resumed_dir).output
    assert "Resuming from" in output
    _assert_same_final_state(uninterrupted, resumed_dir)


def test_sigkill_then_resume_by_run_id_and_by_latest_continues_the_same_run(
    tmp_path: Path, small_toy_imagenet_root: Path, uninterrupted: Path
) -> None:
    """Killed at step 8 (checkpoint 6), resumed by id and killed again at step 10 (checkpoint
    9), resumed as ``latest``: one run directory, as if never interrupted."""
    logs = tmp_path / "logs"
    first = [*_overrides(small_toy_imagenet_root), STALL, f"paths.log_dir={logs}", TENSORBOARD_TOO]
    _kill_at(KILL_BEFORE, first, None)
    (run_dir,) = (logs / "train" / "runs").iterdir()
    run_id = run_dir.name
    _kill_at(9, [f"resume={run_id}", f"paths.log_dir={logs}"], None)
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 9
    run_entry_point(
        "src/train.py",
        ["resume=latest", f"+callbacks.stall.step={NEVER}", f"paths.log_dir={logs}"],
        None,
    )
    assert [path.name for path in (logs / "train" / "runs").iterdir()] == [run_id]
    _assert_same_final_state(uninterrupted, run_dir)
    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    steps = [event.step for event in events.Scalars("train/loss_step")]
    assert steps == [int(row["step"]) for row in rows(uninterrupted) if row["train/loss_step"]]
    starts = (run_dir / "run.yaml").read_text()
    assert f"id: {run_id}" in starts and starts.count("- time:") == 3
    assert "resume=latest" in starts  # each start's own command line
    _assert_compares_as_the_same_run(uninterrupted, run_dir, tmp_path)


def _assert_compares_as_the_same_run(uninterrupted: Path, resumed: Path, tmp_path: Path) -> None:
    """scripts/compare.py on the resumed run beside the uninterrupted one: the same steps,
    epochs and curves; the config keys that differ are the resumed run's extra logger only."""
    compare_main([str(uninterrupted), str(resumed), "--plot", str(tmp_path / "compare.png")])
    compare_main(
        [str(uninterrupted), str(resumed), "--csv", str(tmp_path / "compare.csv")]
        + ["--plot", str(tmp_path / "compare_again.png")]
    )
    mine, theirs = csv.DictReader((tmp_path / "compare.csv").open())
    keys = [name for name in mine if name.startswith(("logger.", "callbacks."))]
    assert keys and all(name.startswith("logger.tensorboard.") for name in keys), keys
    for row in (mine, theirs):
        assert row["epochs"] == f"{EPOCHS}/{EPOCHS}" and row["steps"] == str(EPOCHS * BATCHES)
    assert mine["final val/acc1"] == theirs["final val/acc1"] != "—"
    assert mine["best val/acc1"] == theirs["best val/acc1"]
