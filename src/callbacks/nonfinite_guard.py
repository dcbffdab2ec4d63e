"""Stopping, or skipping the step, when the training loss is NaN or infinite."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch.optim import Optimizer

log = logging.getLogger(__name__)

NONFINITE_ACTIONS: tuple[str, ...] = ("error", "skip")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class NonFiniteGuard(Callback):
    """Check every step's loss before the optimiser applies it.

    ``action="error"`` saves ``<dirpath>/nonfinite_step<N>.ckpt`` (the weights before the bad
    step, which is never applied) and raises, naming the step, epoch and batch. ``"skip"``
    drops the step's gradients, so the optimiser leaves weights and momentum untouched (the
    step still counts for the LR schedule), and warns. Under DDP the processes agree on the
    verdict (one all-reduce of a flag per step), so they stop or skip together.
    """

    def __init__(self, dirpath: str, action: str = "error") -> None:
        if action not in NONFINITE_ACTIONS:
            raise ValueError(
                f"callbacks.nonfinite_guard.action={action!r} is not supported; use one of "
                f"{list(NONFINITE_ACTIONS)}"
            )
        self.dirpath = Path(dirpath)
        self.action = action
        self._batch_idx = 0
        self._bad: tuple[int, float] | None = None  # (batch index, loss) of the first bad batch

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(
        self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor
    ) -> None:
        if self._bad is None and not torch.isfinite(loss).all():
            self._bad = (self._batch_idx, float(loss.detach().float().mean()))

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: Optimizer
    ) -> None:
        bad, self._bad = self._bad, None
        if not trainer.strategy.reduce_boolean_decision(bad is not None, all=False):
            return
        batch_idx, loss = bad if bad is not None else (self._batch_idx, float("nan"))
        where = f"step {trainer.global_step} (epoch {trainer.current_epoch}, batch {batch_idx})"
        if self.action == "skip":
            optimizer.zero_grad(set_to_none=True)
            log.warning("Skipped %s: non-finite training loss %s", where, loss)
            return
        path = self.dirpath / f"nonfinite_step{trainer.global_step}.ckpt"
        trainer.save_checkpoint(path)
        raise NonFiniteLossError(
            f"non-finite training loss ({loss}) at {where}; the weights before this step are "
            f"saved in '{path}'. Lower model.lr or set trainer.gradient_clip_val, check this "
            "batch's data, or skip such steps with callbacks.nonfinite_guard.action=skip."
        )
