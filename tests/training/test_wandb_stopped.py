"""logger=wandb and stop signals: a run ended by SIGTERM is recorded in W&B with the process's
exit code (143), not as finished (0), and its resume continues the same W&B run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from src.runs.identity import read_run_record
from src.runs.stop_signals import exit_code
from tests.helpers import run_entry_point, small_cls_run
from tests.training.resume_checks import start_stalled
from tests.training.wandb_records import exit_code as recorded_exit_code
from tests.training.wandb_records import run_contents

STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"
EPOCHS, BATCHES = 2, 2  # 4 steps; the stop comes after step 2 of them
STOPPED_AT = 1  # stalled before step 2: the run takes it, checkpoints it and stops


def _logged_steps(offline_run: Path) -> list[int]:
    _, history = run_contents(offline_run)
    return [int(row["trainer/global_step"]) for row in history if "trainer/global_step" in row]


@pytest.mark.slow
def test_a_signal_ended_run_is_not_finished_in_wandb_and_its_resume_continues_it(
    small_toy_imagenet_root: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *small_cls_run(BATCHES, EPOCHS),
        f"data.root={small_toy_imagenet_root}",
        "logger=wandb",
        "ckpt_path=last",
        "trainer.log_every_n_steps=1",
        "callbacks.last_checkpoint.every_n_train_steps=null",  # only the stop writes mid-epoch
        STALL,
    ]
    process, lines = start_stalled(STOPPED_AT, overrides, run_dir)
    process.send_signal(signal.SIGTERM)
    lines.extend(process.stdout)
    code = process.wait(timeout=300)
    process.stdout.close()
    output = "".join(lines)[-4000:]
    assert code == exit_code(signal.SIGTERM), output
    (stopped,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    assert recorded_exit_code(stopped) == exit_code(signal.SIGTERM), output

    run_entry_point("src/train.py", [*overrides, "+callbacks.stall.step=1000000"], run_dir)
    first, resumed = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert first == stopped
    wandb_id = read_run_record(run_dir)["wandb_run_id"]
    assert first.name == resumed.name == f"run-{wandb_id}.wandb"  # one W&B run when synced
    assert recorded_exit_code(resumed) == 0  # this start finished the run
    assert max(_logged_steps(first)) < min(_logged_steps(resumed))  # it goes on from the stop
