"""``last.ckpt``, what ``ckpt_path=last`` resumes from, kept current, also when a signal stops
the run."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import torch
from lightning import LightningModule, Trainer
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import Checkpoint

from src.runs.stop_signals import (
    REQUEUE_SIGNAL,
    RunStopped,
    install_stop_handlers,
    signal_at_parent_death,
    stop_requested,
)

log = logging.getLogger(__name__)


class LastCheckpoint(Checkpoint):
    """Write ``<dirpath>/last.ckpt`` at the end of every training epoch (after its validation)
    and every ``every_n_train_steps`` optimiser steps, mid-epoch included; and stop the run at a
    stop signal (src/runs/stop_signals.py) once its step is done, with ``last.ckpt`` of that
    step.

    The data loader's position is saved with it, so a resume from a mid-epoch file is exact.
    Lightning's ``ModelCheckpoint`` cannot combine a step trigger with epoch-end saves, and
    refreshes its ``last.ckpt`` only when it also saved a top-k checkpoint: after an epoch that
    did not improve the monitored metric, a resume would repeat that epoch.

    A stop asked for during an epoch's last step waits for the epoch's validation, so that the
    checkpoint is the epoch-end one (a resume never skips a validation). Every rank agrees on
    the stop at the same step (a max over the ranks' requests), so all write and leave together.
    The run leaves at the start of the next batch or epoch, once Lightning has logged the
    checkpointed step's metrics (which the resumed run does not log again); a stop after the
    last epoch leaves when the fit returns (src/runs/stopped_fit.py).
    Being a ``Checkpoint``, this callback runs after the others at each hook (Lightning orders
    checkpoint callbacks last): what it saves includes their state of the same step.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int | None = None) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(
                f"callbacks.last_checkpoint.every_n_train_steps={every_n_train_steps} must be "
                "at least 1, or null for epoch ends only"
            )
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_train_steps = every_n_train_steps
        self._stopped_by = 0  # the signal whose checkpoint is written: leave at the next start

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if multiprocessing.parent_process() is not None or trainer.global_rank > 0:
            signal_at_parent_death(signal.SIGKILL)  # a rank never outlives its launcher

    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._listen(trainer)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stopped_by = 0
        self._listen(trainer)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._leave_if_stopped()

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._leave_if_stopped()

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # the epoch's end comes next, with its validation and checkpoint
        every = self.every_n_train_steps
        signum = _agreed_stop(trainer)
        if signum:
            self._stop(trainer, signum)
        elif every and trainer.global_step % every == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        signum = _agreed_stop(trainer)
        if signum:
            self._stop(trainer, signum)
        else:
            self._save(trainer)

    def _listen(self, trainer: Trainer) -> None:
        """Take the stop signals over from Lightning (whose SIGTERM handler only sets a flag
        that ends the fit with exit code 0 and no checkpoint)."""
        launcher = trainer.strategy.launcher
        started_ranks = launcher is not None and bool(getattr(launcher, "procs", None))
        install_stop_handlers(
            forward=launcher.kill if started_ranks else None, requeue=_requeues(trainer)
        )

    def _stop(self, trainer: Trainer, signum: int) -> None:
        self._save(trainer)
        self._stopped_by = signum
        if trainer.is_global_zero:
            log.warning(
                "%s: stopped after step %d; %s holds it",
                signal.Signals(signum).name,
                trainer.global_step,
                self.path,
            )
            if signum == REQUEUE_SIGNAL and _requeues(trainer):
                _requeue_slurm_job()

    def _leave_if_stopped(self) -> None:
        if self._stopped_by:
            raise RunStopped(self._stopped_by)

    def _save(self, trainer: Trainer) -> None:
        if not trainer.fast_dev_run:
            # everything a resume needs (optimizer, loops, callbacks): Lightning's own
            # weights_only option of saving, unrelated to torch.load's
            trainer.save_checkpoint(self.path, weights_only=False)


def _agreed_stop(trainer: Trainer) -> int:
    """The stop signal any rank was sent (the largest number if several), 0 for none."""
    signum = stop_requested()
    if trainer.world_size > 1:
        request = torch.tensor(signum, device=trainer.strategy.root_device)
        signum = int(trainer.strategy.reduce(request, reduce_op="max"))
    return signum


def _requeues(trainer: Trainer) -> bool:
    """Whether the job asks to be requeued at SLURM's pre-timeout signal (Lightning's SLURM
    environment with ``auto_requeue``, which the SLURM launchers use)."""
    environment = trainer._accelerator_connector.cluster_environment
    return isinstance(environment, SLURMEnvironment) and environment.auto_requeue


def _requeue_slurm_job() -> None:
    """``scontrol requeue`` this job (the array task, in an array): SLURM stops it and starts
    it again with the same id, so a pinned run directory and ``ckpt_path=last`` resume it."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = (
        f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        if array_job
        else os.environ["SLURM_JOB_ID"]
    )
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if result.returncode == 0:
        log.warning("Requeued SLURM job %s", job)
    else:
        log.error("scontrol requeue %s failed: %s", job, result.stderr.strip() or result.returncode)
