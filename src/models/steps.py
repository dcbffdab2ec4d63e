"""Batch bookkeeping shared by the task modules: skipped samples and empty batches.

With ``data.on_corrupt=skip`` a batch can lose samples, and in the rare case that it loses
all of them it is empty (see :mod:`src.data.collate`); a loss over no samples is NaN, so such
a step must not be computed.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning import LightningModule


def log_skipped(module: LightningModule, batch: dict[str, Any]) -> None:
    """Add the batch's dropped samples to ``data/skipped``, summed over the epoch."""
    module.log(
        "data/skipped",
        float(batch["num_skipped"]),
        on_step=False,
        on_epoch=True,
        reduce_fx="sum",
        sync_dist=True,
    )


def is_empty(batch: dict[str, Any]) -> bool:
    return batch["target"].shape[0] == 0


def empty_step_loss(module: LightningModule) -> torch.Tensor | None:
    """What ``training_step`` returns for an empty batch.

    One process: None, and Lightning skips the step (no gradient, no weight change). Under
    DDP every process must take part in the gradient all-reduce, so this process contributes a
    zero loss that reaches every parameter (zero gradients) instead.
    """
    if module.trainer.world_size == 1:
        return None
    return sum(p.sum() for p in module.parameters() if p.requires_grad) * 0.0
