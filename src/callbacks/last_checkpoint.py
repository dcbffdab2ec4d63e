"""``last.ckpt``, what ``ckpt_path=last`` resumes from, kept current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint


class LastCheckpoint(Checkpoint):
    """Write ``<dirpath>/last.ckpt`` at the end of every training epoch (after its validation)
    and every ``every_n_train_steps`` optimiser steps, mid-epoch included.

    The data loader's position is saved with it, so a resume from a mid-epoch file is exact.
    Lightning's ``ModelCheckpoint`` cannot combine a step trigger with epoch-end saves, and
    refreshes its ``last.ckpt`` only when it also saved a top-k checkpoint: after an epoch that
    did not improve the monitored metric, a resume would repeat that epoch.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int | None = None) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(
                f"callbacks.last_checkpoint.every_n_train_steps={every_n_train_steps} must be "
                "at least 1, or null for epoch ends only"
            )
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_train_steps = every_n_train_steps

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        every = self.every_n_train_steps
        last_of_epoch = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        if every and trainer.global_step % every == 0 and not last_of_epoch:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._save(trainer)

    def _save(self, trainer: Trainer) -> None:
        if not trainer.fast_dev_run:
            # everything a resume needs (optimizer, loops, callbacks): Lightning's own
            # weights_only option of saving, unrelated to torch.load's
            trainer.save_checkpoint(self.path, weights_only=False)
