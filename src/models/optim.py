"""Optimiser parameter groups and learning-rate scaling shared by the task modules."""

from __future__ import annotations

from torch import nn

REFERENCE_BATCH = 256


def scaled_lr(base_lr: float, global_batch: int, reference_batch: int = REFERENCE_BATCH) -> float:
    """Linear scaling rule (Goyal et al. 2017): ``base_lr`` is the LR for ``reference_batch`` images."""
    return base_lr * global_batch / reference_batch


def decay_groups(
    module: nn.Module, lr: float, weight_decay: float, name: str = ""
) -> list[dict[str, object]]:
    """Two SGD groups: weights with ``weight_decay``, norm and bias parameters without.

    One-dimensional tensors are exactly the norm scales/shifts and biases, the parameters the
    ResNeSt recipe exempts from weight decay ("no bias decay").
    """
    decay, no_decay = [], []
    for parameter in module.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    groups = [
        {"params": decay, "lr": lr, "weight_decay": weight_decay, "name": f"{name}decay"},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": f"{name}no_decay"},
    ]
    return [group for group in groups if group["params"]]
