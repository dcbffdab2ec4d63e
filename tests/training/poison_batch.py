"""A callback that puts a NaN into the input images of chosen training steps."""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer


class PoisonBatch(Callback):
    def __init__(self, steps: list[int]) -> None:
        self.steps = set(steps)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step in self.steps:
            batch["image"][0, 0, 0, 0] = float("nan")
