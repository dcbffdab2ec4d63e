"""Per-iteration learning-rate multipliers (pure functions of the step, so resume is exact)."""

from __future__ import annotations

import math
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


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


def step_scheduler(optimizer: Optimizer, multiplier: partial) -> dict[str, object]:
    """A Lightning scheduler config that applies ``multiplier(step)`` every optimiser step."""
    return {"scheduler": LambdaLR(optimizer, multiplier), "interval": "step", "frequency": 1}
