"""The split-attention convolution of ResNeSt (Zhang et al. 2020, arXiv 2004.08955), and DropBlock.

Layout is radix-major, as in the official code: the grouped KxK conv has
``groups = cardinality * radix`` and produces ``radix`` splits of ``channels`` maps each, every
split holding all cardinal groups. The attention logits from ``fc2`` come out cardinal-major
(``cardinality x radix x channels/cardinality``) and are softmax-ed over the radix axis inside
each cardinal group. This equals the paper's cardinal-major figure up to a channel permutation
(see ``tests/backbones/test_cardinal_major.py``).

Unlike the official code this splits by an int width instead of tensor-valued sizes, which keeps
the graph ONNX-exportable.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from src.models.backbones.norm import NormFactory


class DropBlock2D(nn.Module):
    """DropBlock (Ghiasi et al. 2018): drops contiguous ``block_size``² regions of a feature map.

    ``target_prob`` is the probability reached at the end of the ramp; ``drop_prob`` is the one in
    force now. The owner ramps it with :meth:`set_progress` so that the schedule is a pure function
    of the training step (and therefore restored exactly on resume).
    """

    def __init__(self, target_prob: float, block_size: int = 3) -> None:
        super().__init__()
        self.target_prob = target_prob
        self.drop_prob = target_prob
        self.block_size = block_size

    def set_progress(self, progress: float) -> None:
        """Set the current drop probability to ``target_prob * clamp(progress, 0, 1)``."""
        self.drop_prob = self.target_prob * min(max(progress, 0.0), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob <= 0.0:
            return x
        height, width = x.shape[-2:]
        valid = max((height - self.block_size + 1) * (width - self.block_size + 1), 1)
        gamma = self.drop_prob / self.block_size**2 * (height * width) / valid
        seeds = torch.rand_like(x) < gamma
        dropped = F.max_pool2d(
            seeds.to(x.dtype), self.block_size, stride=1, padding=self.block_size // 2
        )
        keep = 1.0 - dropped[..., :height, :width]
        return x * keep * (keep.numel() / keep.sum().clamp_min(1.0))

    def extra_repr(self) -> str:
        return f"target_prob={self.target_prob}, block_size={self.block_size}"


def attention_width(in_channels: int, radix: int, reduction_factor: int) -> int:
    """Channels of the attention bottleneck (``fc1``): the split's input widened by the radix,
    divided by ``reduction_factor``, and at least 32 (the official rule)."""
    return max(in_channels * radix // reduction_factor, 32)


class SplitAttentionConv2d(nn.Module):
    """KxK grouped conv over ``radix`` splits, fused by r-softmax attention per cardinal group.

    Submodule names (``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2``) are the official ones so that
    official checkpoints load unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
        *,
        radix: int = 2,
        cardinality: int = 1,
        reduction_factor: int = 4,
        norm: NormFactory = nn.BatchNorm2d,
        dropblock_prob: float = 0.0,
    ) -> None:
        super().__init__()
        inter_channels = attention_width(in_channels, radix, reduction_factor)
        self.radix = radix
        self.cardinality = cardinality
        self.channels = channels
        self.conv = nn.Conv2d(
            in_channels,
            channels * radix,
            kernel_size,
            stride,
            padding,
            dilation,
            groups=cardinality * radix,
            bias=False,
        )
        self.bn0 = norm(channels * radix)
        self.dropblock = DropBlock2D(dropblock_prob) if dropblock_prob > 0 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter_channels, 1, groups=cardinality)
        self.bn1 = norm(inter_channels)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1, groups=cardinality)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.dropblock(self.bn0(self.conv(x))))
        if self.radix == 1:
            gap = F.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.fc2(self.relu(self.bn1(self.fc1(gap)))))
        splits = x.split(self.channels, dim=1)
        logits = self.fc2(self.relu(self.bn1(self.fc1(self.pooled_radix_sum(x, splits)))))
        # fc2 is cardinal-major (K, R, C/K): bring R to the front (radix-major), softmax over it,
        # then line the weights up with the splits (R, C).
        attention = logits.unflatten(1, (self.cardinality, self.radix, -1)).transpose(1, 2)
        attention = attention.softmax(dim=1).reshape(-1, self.radix * self.channels, 1, 1)
        return self.weighted_radix_sum(splits, attention.split(self.channels, dim=1))

    def pooled_radix_sum(self, x: torch.Tensor, splits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The global average of the splits' sum, B x C x 1 x 1, in the official order."""
        return F.adaptive_avg_pool2d(radix_sum(splits), 1)

    def weighted_radix_sum(
        self, splits: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """The splits weighted by their attention and added, in the official order."""
        return radix_sum([split * weight for split, weight in zip(splits, weights, strict=True)])


def radix_sum(splits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Add the radix splits one after another, as the official code's Python ``sum`` does.

    Elementwise adds of channel slices vectorise in every memory layout, where a ``sum`` over an
    unflattened radix axis is a strided reduction (in channels_last it took most of the block's
    time); the order of the adds is the official one, so fp32 outputs stay bit-identical.
    """
    total = splits[0]
    for split in splits[1:]:
        total = total + split
    return total
