"""Per-batch random state, so that a resumed run draws what the uninterrupted run drew."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer


class StepSeed(Callback):
    """Reseed torch's global generator from (seed, process rank, epoch, batch) before each batch.

    Mixup/CutMix draws, DropBlock masks and dropout come from torch's global generator, whose
    state checkpoints do not hold: without this, a run resumed mid-epoch would draw differently
    from the uninterrupted one. Each process (and each accumulated micro-batch) gets its own
    seed, so processes do not repeat each other's masks.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        entropy = [self.seed, trainer.global_rank, trainer.current_epoch, batch_idx]
        torch.manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]))
