"""FCN head: a few 3x3 convs and a 1x1 classifier on one backbone feature map.

Serves both as a plain FCN decode head (on C5) and as the auxiliary head on C4
(``in_index=-2``) that PyTorch-Encoding and mmsegmentation add to DeepLabV3 training.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from src.models.heads.layers import NormFactory, conv_norm_relu


class FCNHead(nn.Module):
    """``num_convs`` x (3x3 conv → norm → ReLU), then Dropout and a 1x1 classifier.

    Reads ``features[in_index]`` from the backbone's [C2, C3, C4, C5] list; ``in_channels``
    must match that map's channel count. Output is at that map's resolution.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: int = 256,
        dropout: float = 0.1,
        in_index: int = -1,
        num_convs: int = 1,
        norm_layer: NormFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(
                f"num_convs={num_convs} must be at least 1: the classifier reads the "
                f"{channels}-channel output of the convs."
            )
        self.in_index = in_index
        widths = [in_channels] + [channels] * num_convs
        self.convs = nn.Sequential(
            *(conv_norm_relu(c_in, c_out, 3, norm_layer) for c_in, c_out in pairwise(widths))
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        return self.classifier(self.dropout(self.convs(features[self.in_index])))
