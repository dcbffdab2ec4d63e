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


def log_loss(module: LightningModule, loss: torch.Tensor, batch_size: int) -> None:
    """``train/loss`` per step (progress bar) and per epoch, averaged over all processes."""
    module.log(
        "train/loss",
        loss,
        prog_bar=True,
        on_step=True,
        on_epoch=True,
        sync_dist=True,
        batch_size=batch_size,
    )


def empty_step_loss(module: LightningModule) -> torch.Tensor | None:
    """What ``training_step`` returns for an empty batch.

    One process: None, and Lightning skips the step (no gradient, no weight change). Under
    DDP every process must take part in each collective of the step: this one contributes a
    zero loss that reaches every parameter (zero gradients to the all-reduce) and logs it with
    weight 0, matching the other processes' synchronised ``train/loss``.
    """
    if module.trainer.world_size == 1:
        return None
    loss = sum(p.sum() for p in module.parameters() if p.requires_grad) * 0.0
    log_loss(module, loss, batch_size=0)
    return loss
