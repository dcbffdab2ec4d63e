"""Random BatchNorm parameters and statistics, so that eval-mode outputs of an oracle and of
this project's model depend on every tensor (fresh BN layers are the identity, and timm
zero-initialises the last BN of each block, which would hide the residual branches)."""

from __future__ import annotations

import torch
from torch import nn

# (attribute, low, high) of the uniform draw for each BatchNorm tensor
_RANGES = (("weight", 0.5, 1.5), ("bias", -0.1, 0.1), ("running_mean", -0.1, 0.1))
_RANGES += (("running_var", 0.5, 1.5),)


def randomise_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    """``model`` with every BatchNorm2d tensor drawn at random, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                for attribute, low, high in _RANGES:
                    tensor = getattr(module, attribute)
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
    return model.eval()
