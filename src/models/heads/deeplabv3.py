"""DeepLabV3 decode head: atrous spatial pyramid pooling (ASPP) followed by a 3x3 bottleneck.

Follows the PyTorch-Encoding head used for the ResNeSt ADE20K results: five ``channels``-wide
branches (1x1, three dilated 3x3, image pooling), concatenated and projected back to
``channels`` with Dropout2d, then a 3x3 conv, Dropout and a 1x1 classifier. The atrous rates
(12, 24, 36) are the ones used at output stride 8; halve them for output stride 16.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from src.models.heads.base import DecodeHead
from src.models.heads.layers import NormFactory, conv_norm_relu


class ImagePooling(nn.Module):
    """Global context branch: GAP → 1x1 conv → norm → ReLU, broadcast back to the input size.

    Upsampling a 1x1 map is a constant fill whatever the interpolation settings, so it is
    written as ``expand``. In training the norm sees one value per image and channel, so
    BatchNorm needs a batch of at least two images.
    """

    def __init__(self, in_channels: int, channels: int, norm_layer: NormFactory) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = conv_norm_relu(in_channels, channels, 1, norm_layer)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.pool(x)).expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel branches at several receptive fields, fused."""

    def __init__(
        self,
        in_channels: int,
        channels: int = 256,
        atrous_rates: Sequence[int] = (12, 24, 36),
        dropout: float = 0.5,
        norm_layer: NormFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [
                conv_norm_relu(in_channels, channels, 1, norm_layer),
                *(
                    conv_norm_relu(in_channels, channels, 3, norm_layer, dilation=rate)
                    for rate in atrous_rates
                ),
                ImagePooling(in_channels, channels, norm_layer),
            ]
        )
        self.project = nn.Sequential(
            conv_norm_relu(len(self.branches) * channels, channels, 1, norm_layer),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class DeepLabV3Head(DecodeHead):
    """Decode head: ASPP and a 3x3 bottleneck on ``features[in_index]`` (C5 by default).

    ``in_channels`` lists the channels of every backbone feature map ([C2, C3, C4, C5]), so the
    head does not need to know which backbone feeds it; see :class:`DecodeHead`.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        channels: int = 256,
        atrous_rates: tuple[int, ...] = (12, 24, 36),
        dropout: float = 0.1,
        aspp_dropout: float = 0.5,
        norm_layer: NormFactory = nn.BatchNorm2d,
        in_index: int = -1,
    ) -> None:
        super().__init__(in_channels, in_index)
        self.aspp = ASPP(self.input_channels, channels, atrous_rates, aspp_dropout, norm_layer)
        self.bottleneck = conv_norm_relu(channels, channels, 3, norm_layer)
        self.add_classifier(channels, num_classes, dropout)

    def transform(self, x: Tensor) -> Tensor:
        return self.bottleneck(self.aspp(x))
