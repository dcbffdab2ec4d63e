"""The split-attention block written plainly: the paper's formula over an unflattened radix axis.

``splits = x.unflatten(1, (R, C))``, the radix sums as ``sum(dim=1)`` of that tensor. This is how
the project's block computed before its radix sums became adds of channel slices, so it serves
twice: as the benchmark's "previous block" candidate (the same weights, the reductions it had)
and as the tests' reference implementation for every radix, cardinality, layout and dtype.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from src.models.backbones.split_attention import SplitAttentionConv2d


class ReferenceSplitAttention(SplitAttentionConv2d):
    """The same module and weights; the radix reductions are strided sums over a 5-D view."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.dropblock(self.bn0(self.conv(x))))
        if self.radix == 1:
            gap = F.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.fc2(self.relu(self.bn1(self.fc1(gap)))))
        splits = x.unflatten(1, (self.radix, self.channels))  # B, R, C, H, W
        gap = F.adaptive_avg_pool2d(splits.sum(dim=1), 1)
        logits = self.fc2(self.relu(self.bn1(self.fc1(gap))))
        # cardinal-major logits (K, R, C/K) -> softmax over R -> weights lined up as (R, C)
        attention = logits.unflatten(1, (self.cardinality, self.radix, -1)).transpose(1, 2)
        attention = attention.softmax(dim=1).reshape(-1, self.radix, self.channels, 1, 1)
        return (splits * attention).sum(dim=1)


def with_reference_blocks(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose split-attention blocks run :class:`ReferenceSplitAttention`."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if type(module) is SplitAttentionConv2d:
            module.__class__ = ReferenceSplitAttention
    return model
