"""A callback that announces a training step on stdout and stalls there, so that a test can
kill or signal the process at a known point in the middle of an epoch. A stop signal ends the
stall (the run then takes the step and stops after it)."""

from __future__ import annotations

import time
from typing import Any

from lightning import Callback, LightningModule, Trainer

from src.runs.stop_signals import stop_requested

STALLED = "stalled before step"
STALL_SECONDS = 600


class StallAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            print(f"{STALLED} {self.step + 1}", flush=True)
            deadline = time.monotonic() + STALL_SECONDS
            while not stop_requested() and time.monotonic() < deadline:
                time.sleep(0.05)
