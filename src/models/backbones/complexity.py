"""Counting multiply-accumulates without running real arithmetic.

The model is built on the ``meta`` device and traced with PyTorch's own FLOP counter, so counting
ResNeSt-269 at 416 px costs no memory. Its norms are swapped for identities first: they are not
counted, and their meta-device decompositions were most of a count's time (a flops-matched
width bisects over about ten counts).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from src.models.backbones.norm import NORM_MODULES


def count_macs(build: Callable[[], nn.Module], image_size: int, in_chans: int = 3) -> int:
    """Multiply-accumulates of one forward pass of ``build()`` on a 1 x C x S x S image.

    Counts convolutions and matrix products (what FLOP tables report); norms, activations and
    pooling are not counted, matching the convention of the published figures.
    """
    with torch.device("meta"):
        model = _without_norms(build().eval())
        image = torch.empty(1, in_chans, image_size, image_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(image)
    return counter.get_total_flops() // 2


def _without_norms(model: nn.Module) -> nn.Module:
    """``model`` with every norm layer replaced by an identity (shapes are unchanged)."""
    norms = [name for name, module in model.named_modules() if isinstance(module, NORM_MODULES)]
    for name in norms:
        model.set_submodule(name, nn.Identity())
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
