"""A fit that a stop signal ends with the run checkpointed and a truthful exit code.

The signals are recorded (src/runs/stop_signals.py) and acted on at a step boundary
(src/callbacks/last_checkpoint.py); here the fit's caller learns that it stopped and how: a
warning with the command that resumes the run, the W&B run recorded as not finished, and
:class:`RunStopped` raised with ``128 + signal number``. A second Ctrl-C stops at once, without
a checkpoint of its step, so the warning names the checkpoint that holds the run instead.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import lightning as L

from src.runs.resume import RESUME_COMMAND, checkpoints_newest_first
from src.runs.stop_signals import RunStopped, exit_code, stop_requested, stop_signals_recorded
from src.runs.wandb_exit import finish_wandb_run
from src.utils.checkpoint_io import read_checkpoint

log = logging.getLogger(__name__)


def fit_until_stopped(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    checkpoint: str | None,
) -> None:
    """``trainer.fit``, ended by a stop signal with the run checkpointed, the command that
    resumes it printed, and :class:`RunStopped`'s exit code.

    The ranks of ``ddp_fork`` / ``ddp_spawn`` are this process's children: it passes each stop
    signal on to them, and waits for them to finish writing before it exits."""
    launcher = trainer.strategy.launcher
    held = "checkpointed"
    with stop_signals_recorded(forward=launcher.kill if launcher is not None else None):
        try:
            trainer.fit(model, datamodule, ckpt_path=checkpoint)
            signum = stop_requested()  # asked after the last epoch's checkpoint
        except BaseException as error:
            signum = error.signum if isinstance(error, RunStopped) else _stopped_ranks(launcher)
            if not signum and stop_requested() and _interrupted(error):
                # a second Ctrl-C: stopped at once, the exit code is still the first signal's
                signum, held = stop_requested(), _held_by(trainer.default_root_dir)
            if not signum:
                raise
    if signum:
        if trainer.is_global_zero:
            log.warning(
                "Run stopped by %s, %s. Resume it with: %s",
                signal.Signals(signum).name,
                held,
                RESUME_COMMAND.format(run_dir=trainer.default_root_dir),
            )
        finish_wandb_run(exit_code(signum))  # W&B would record 0 ("finished") at exit
        raise RunStopped(signum)


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` is a KeyboardInterrupt or the exit Lightning makes of one."""
    return isinstance(error, KeyboardInterrupt) or isinstance(error.__context__, KeyboardInterrupt)


def _held_by(run_dir: str) -> str:
    """Which checkpoint holds a run stopped before it could checkpoint its step."""
    newest = checkpoints_newest_first(run_dir)
    if not newest:
        return "at once, before its first checkpoint (the resume starts afresh)"
    step = read_checkpoint(newest[0], mmap=True).get("global_step")
    return f"at once, before a checkpoint of its step: {newest[0]} (step {step}) holds the run"


def _stopped_ranks(launcher: Any) -> int:
    """The stop signal this process passed on to the ranks it spawned, once they have all
    exited, if one of them ended with that signal's exit code (else 0: they failed)."""
    ranks = [process for process in getattr(launcher, "procs", []) if hasattr(process, "join")]
    for process in ranks:  # spawned ranks (the script launcher's are Popen, rank 0 is here)
        process.join()
    signum = stop_requested()
    stopped = signum and any(process.exitcode == exit_code(signum) for process in ranks)
    return signum if stopped else 0
