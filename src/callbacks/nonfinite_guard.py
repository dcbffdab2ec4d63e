"""Stopping, or skipping the step, when the training loss or its gradients are NaN or infinite."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch.nn.utils import get_total_norm
from torch.optim import Optimizer

log = logging.getLogger(__name__)

NONFINITE_ACTIONS: tuple[str, ...] = ("error", "skip")


class NonFiniteLossError(RuntimeError):
    """The training loss or its gradients became NaN or infinite."""


class NonFiniteGuard(Callback):
    """Check every step's loss and gradients before the optimiser applies them.

    On a bad step the buffers its forward pass changed (BatchNorm statistics, which a NaN batch
    poisons) are first put back. ``action="error"`` then saves ``<dirpath>/nonfinite_step<N>.ckpt``
    (the state before the bad step, which is never applied) and raises, naming the step, epoch
    and batch; ``"skip"`` drops the step's gradients, so the optimiser leaves weights and
    momentum untouched (the step still counts for the LR schedule), and warns. Under DDP the
    processes agree on the verdict (one all-reduce of a flag per step), so they stop or skip together.
    Gradients are left alone under fp16's GradScaler, which skips overflowing steps itself.
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
        self._bad_loss: float | None = None  # the step's first non-finite loss
        self._buffers: tuple[int, list[torch.Tensor]] | None = None  # (step, copies)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_idx = batch_idx
        step = trainer.global_step
        if self._buffers is None or self._buffers[0] != step:  # a step's first micro-batch
            self._buffers = (step, [buffer.detach().clone() for buffer in pl_module.buffers()])

    def on_before_backward(
        self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor
    ) -> None:
        if self._bad_loss is None and not torch.isfinite(loss).all():
            self._bad_loss = float(loss.detach().float().mean())

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: Optimizer
    ) -> None:
        loss, self._bad_loss = self._bad_loss, None
        bad = loss is not None or not _gradients_finite(trainer, pl_module)
        if not trainer.strategy.reduce_boolean_decision(bad, all=False):
            return
        what = f"training loss ({loss})" if loss is not None else "gradients"
        where = (
            f"step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        )
        with torch.no_grad():
            for buffer, saved in zip(pl_module.buffers(), self._buffers[1], strict=True):
                buffer.copy_(saved)
        if self.action == "skip":
            optimizer.zero_grad(set_to_none=True)
            log.warning("Skipped %s: non-finite %s", where, what)
            return
        path = self.dirpath / f"nonfinite_step{trainer.global_step}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # a full checkpoint, resumable
        raise NonFiniteLossError(
            f"non-finite {what} at {where}; the weights before this step are saved in "
            f"'{path}'. Lower model.lr or set trainer.gradient_clip_val, check this batch's "
            "data, or skip such steps with callbacks.nonfinite_guard.action=skip."
        )


def _gradients_finite(trainer: Trainer, pl_module: LightningModule) -> bool:
    if getattr(trainer.precision_plugin, "scaler", None) is not None:
        return True
    gradients = [p.grad for p in pl_module.parameters() if p.grad is not None]
    # the largest magnitude: NaN or inf exactly when some entry is (a 2-norm could overflow)
    return not gradients or bool(torch.isfinite(get_total_norm(gradients, norm_type=math.inf)))
