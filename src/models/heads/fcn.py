"""FCN head: a few 3x3 convs and a 1x1 classifier on one backbone feature map.

Serves both as a plain FCN decode head (on C5) and as the auxiliary head on C4
(``in_index=-2``) that PyTorch-Encoding and mmsegmentation add to DeepLabV3 training.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from src.models.heads.base import DecodeHead
from src.models.heads.layers import NormFactory, conv_norm_relu


class FCNHead(DecodeHead):
    """``num_convs`` x (3x3 conv → norm → ReLU) on ``features[in_index]``, then the classifier.

    ``in_channels`` lists the channels of every backbone feature map ([C2, C3, C4, C5]); see
    :class:`DecodeHead`. Output is at the resolution of the map it reads.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        channels: int = 256,
        dropout: float = 0.1,
        in_index: int = -1,
        num_convs: int = 1,
        norm_layer: NormFactory = nn.BatchNorm2d,
    ) -> None:
        super().__init__(in_channels, in_index)
        if num_convs < 1:
            raise ValueError(
                f"num_convs={num_convs} must be at least 1: the classifier reads the "
                f"{channels}-channel output of the convs."
            )
        widths = [self.input_channels] + [channels] * num_convs
        self.convs = nn.Sequential(
            *(conv_norm_relu(c_in, c_out, 3, norm_layer) for c_in, c_out in pairwise(widths))
        )
        self.add_classifier(channels, num_classes, dropout)

    def transform(self, x: Tensor) -> Tensor:
        return self.convs(x)
