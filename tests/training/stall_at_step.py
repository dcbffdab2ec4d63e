"""A callback that announces a training step on stdout and stalls there, so that a test can
SIGKILL the process at a known point in the middle of an epoch."""

from __future__ import annotations

import time
from typing import Any

from lightning import Callback, LightningModule, Trainer

STALLED = "stalled before step"


class StallAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            print(f"{STALLED} {self.step + 1}", flush=True)
            time.sleep(600)
