"""Batch bookkeeping shared by the task modules: epoch tallies, skipped samples, empty batches.

With ``data.on_corrupt=skip`` a batch can lose samples, and in the rare case that it loses
all of them it is empty (see :mod:`src.data.collate`); a loss over no samples is NaN, so such
a step must not be computed.

Epoch-level figures (the mean training loss, the skipped-sample counts, training accuracy) are
metric objects whose running state, summed over processes, is saved in checkpoints: a run
resumed mid-epoch reports the same epoch figures as an uninterrupted one, not figures over the
batches after the resume. An epoch-end checkpoint holds the finished epoch's figures, so they
are cleared at the first batch of every epoch (batch 0: a resumed epoch starts at a later one).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning import LightningModule
from torchmetrics import MeanMetric, Metric, SumMetric

TRAIN_TALLY_KEY = "train_epoch_tally"  # where checkpoints keep the training epoch's figures


class EpochTally(torch.nn.Module):
    """The running figures of one epoch of a split: mean loss (training), samples counted by
    the metrics, samples skipped as unreadable (summed over every process), and any task
    metrics given by name."""

    def __init__(self, **metrics: Metric) -> None:
        super().__init__()
        self.loss, self.samples, self.skipped = MeanMetric(), SumMetric(), SumMetric()
        self.metrics = torch.nn.ModuleDict(metrics)

    def _named_metrics(self) -> list[tuple[str, Metric]]:
        return [(name, m) for name, m in self.named_modules() if isinstance(m, Metric)]

    def reset(self) -> None:
        """Start the figures afresh, in tensors of this process's own.

        Also at the start of every validation: under ``ddp_spawn`` the processes receive the
        module's tensors in shared memory, and metric states that were never reset would be
        one tensor that every process adds into."""
        for _, metric in self._named_metrics():
            metric.reset()

    def start_batch(self, batch_idx: int) -> None:
        """Clear the figures at an epoch's first batch (see the module docstring)."""
        if batch_idx == 0:
            self.reset()

    def global_state(self) -> dict[str, torch.Tensor]:
        """The running states summed over every process, for a checkpoint (a collective
        under DDP: every process calls it, as every process builds the checkpoint)."""
        state: dict[str, torch.Tensor] = {}
        for name, metric in self._named_metrics():
            with metric.sync_context():
                state |= {f"{name}.{k}": v.detach().clone() for k, v in metric.metric_state.items()}
        return state

    def restore(self, state: dict[str, torch.Tensor], global_rank: int) -> None:
        """Continue from a checkpoint's :meth:`global_state`: process 0 holds the sums so far,
        the others start from zero, so the epoch's figures sum to the uninterrupted ones."""
        self.reset()
        if global_rank != 0:
            return
        for name, metric in self._named_metrics():
            for key, current in metric.metric_state.items():
                setattr(metric, key, state[f"{name}.{key}"].to(current.device))


def log_counts(
    module: LightningModule, tally: EpochTally, split: str, batch: dict[str, Any]
) -> None:
    """Add the batch's samples and dropped samples to ``<split>/samples`` and
    ``<split>/skipped`` (for training, ``data/skipped``), summed over the epoch."""
    tally.samples.update(float(batch["target"].shape[0]))
    tally.skipped.update(float(batch["num_skipped"]))
    skipped_key = "data/skipped" if split == "train" else f"{split}/skipped"
    module.log(f"{split}/samples", tally.samples, on_step=False, on_epoch=True)
    module.log(skipped_key, tally.skipped, on_step=False, on_epoch=True)


def is_empty(batch: dict[str, Any]) -> bool:
    return batch["target"].shape[0] == 0


def log_loss(
    module: LightningModule, tally: EpochTally, loss: torch.Tensor, batch_size: int
) -> None:
    """``train/loss_step`` (averaged over all processes, on the progress bar) and
    ``train/loss_epoch``, the epoch's mean over every sample of every process."""
    module.log("train/loss_step", loss, prog_bar=True, sync_dist=True, batch_size=batch_size)
    tally.loss.update(loss.detach(), weight=batch_size)
    module.log("train/loss_epoch", tally.loss, on_step=False, on_epoch=True)


def empty_step_loss(module: LightningModule, tally: EpochTally) -> torch.Tensor | None:
    """What ``training_step`` returns for an empty batch.

    One process: None, and Lightning skips the step (no gradient, no weight change). Under
    DDP every process must take part in each collective of the step: this one contributes a
    zero loss that reaches every parameter (zero gradients to the all-reduce) and logs it with
    weight 0, matching the other processes' synchronised ``train/loss``.
    """
    if module.trainer.world_size == 1:
        return None
    loss = sum(p.sum() for p in module.parameters() if p.requires_grad) * 0.0
    log_loss(module, tally, loss, batch_size=0)
    return loss
