"""Optimiser parameter groups and learning-rate scaling shared by the task modules."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

REFERENCE_BATCH = 256


def scaled_lr(base_lr: float, global_batch: int, reference_batch: int = REFERENCE_BATCH) -> float:
    """Linear scaling rule (Goyal et al. 2017): ``base_lr`` is the LR for ``reference_batch`` images."""
    return base_lr * global_batch / reference_batch


def global_batch(trainer: Any, batch_size: int) -> int:
    """Images per optimiser step: ``batch_size`` per process, every process, accumulation."""
    return batch_size * trainer.world_size * trainer.accumulate_grad_batches


def steps_per_epoch(trainer: Any) -> float:
    """Optimiser steps in one epoch (after ``limit_train_batches`` and accumulation)."""
    if not math.isfinite(trainer.num_training_batches):  # step-based runs load data lazily
        trainer.fit_loop.setup_data()
    batches = trainer.num_training_batches
    return max(batches / trainer.accumulate_grad_batches, 1.0)


def decay_groups(
    module: nn.Module,
    lr: float,
    weight_decay: float,
    name: str = "",
    decay_norm_and_bias: bool = False,
) -> list[dict[str, object]]:
    """SGD groups of ``module``: weights with ``weight_decay``, norm and bias parameters without.

    One-dimensional tensors are exactly the norm scales/shifts and biases, the parameters the
    ResNeSt ImageNet recipe exempts from weight decay ("no bias decay"). PyTorch-Encoding's
    segmentation scripts decay everything: ``decay_norm_and_bias=True``.
    """
    decay, no_decay = [], []
    for parameter in module.parameters():
        if parameter.requires_grad:
            exempt = parameter.ndim <= 1 and not decay_norm_and_bias
            (no_decay if exempt else decay).append(parameter)
    groups = [
        {"params": decay, "lr": lr, "weight_decay": weight_decay, "name": f"{name}decay"},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": f"{name}no_decay"},
    ]
    return [group for group in groups if group["params"]]
