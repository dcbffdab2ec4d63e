"""Per-iteration learning-rate multipliers (pure functions of the step, so resume is exact).

``cosine_schedule`` and ``poly_schedule`` are what the ``model.lr_schedule`` config node points
at (``_partial_``): the config gives the recipe's shape (warmup epochs, end ratio, power), the
task module the run's length, and they return the multiplier of each step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

LR_PLAN_KEY = "lr_plan"  # in a checkpoint: the LRPlan the schedule was built for


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Linear warmup from ~0 to 1 over ``warmup_steps``, then cosine decay to ``min_ratio``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def poly(step: int, total_steps: int, power: float = 0.9, warmup_steps: int = 0) -> float:
    """The DeepLab "poly" rule ``(1 - step / total) ** power``, with optional linear warmup."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(1.0 - step / max(total_steps, 1), 0.0) ** power


Multiplier = Callable[[int], float]
LRSchedule = Callable[
    ..., Multiplier
]  # a schedule node: (total_steps=, steps_per_epoch=) -> Multiplier


def warmup_steps(warmup_epochs: float, steps_per_epoch: float, total_steps: int) -> int:
    """Warmup epochs as optimiser steps (a started step counts whole), at most the whole run."""
    return min(math.ceil(warmup_epochs * steps_per_epoch), total_steps)


def cosine_schedule(
    *, total_steps: int, steps_per_epoch: float, warmup_epochs: float = 5.0, min_ratio: float = 0.0
) -> Multiplier:
    """The ImageNet recipe: ``warmup_epochs`` of linear warmup, then cosine to ``min_ratio``."""
    warmup = warmup_steps(warmup_epochs, steps_per_epoch, total_steps)
    return partial(warmup_cosine, total_steps=total_steps, warmup_steps=warmup, min_ratio=min_ratio)


def poly_schedule(
    *, total_steps: int, steps_per_epoch: float, power: float = 0.9, warmup_epochs: float = 0.0
) -> Multiplier:
    """The segmentation recipe: the poly rule per iteration, after optional warmup epochs."""
    warmup = warmup_steps(warmup_epochs, steps_per_epoch, total_steps)
    return partial(poly, total_steps=total_steps, power=power, warmup_steps=warmup)


def step_scheduler(optimizer: Optimizer, multiplier: Multiplier) -> dict[str, object]:
    """A Lightning scheduler config that applies ``multiplier(step)`` every optimiser step."""
    return {"scheduler": LambdaLR(optimizer, multiplier), "interval": "step", "frequency": 1}


class LRPlan(NamedTuple):
    """The run length a schedule was built for: its optimiser steps and ``trainer.max_epochs``."""

    total_steps: int
    max_epochs: int | None


def replanned_message(restored: LRPlan, plan: LRPlan, scheduler: LRScheduler, step: int) -> str:
    """What a resume that changed the run's length does to the LR: the schedule is a function of
    the step and the run's length, so the new length gives a new LR from the step reached."""
    before = scheduler.get_last_lr()[0]  # restored from the checkpoint
    after = scheduler.base_lrs[0] * scheduler.lr_lambdas[0](scheduler.last_epoch)
    return (
        f"LR schedule re-planned for {plan.max_epochs} epochs ({plan.total_steps} steps; the "
        f"checkpoint's run planned {restored.max_epochs} epochs, {restored.total_steps} steps): "
        f"LR {before:.3g} -> {after:.3g} at step {step}"
    )
