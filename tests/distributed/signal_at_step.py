"""A callback that sends this process SLURM's pre-timeout signal after a given training step."""

from __future__ import annotations

import os
import signal
from typing import Any

from lightning import Callback, LightningModule, Trainer


class SignalAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGUSR1)
