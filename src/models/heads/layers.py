"""The conv → norm → ReLU unit that every segmentation head is built from.

Kept in one place so the ASPP branches, the DeepLabV3 bottleneck and the FCN convs agree on
``bias=False`` (the norm supplies the shift) and on "same" padding for dilated kernels.
"""

from __future__ import annotations

from torch import nn

from src.models.backbones.norm import NormFactory


def conv_norm_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    norm_layer: NormFactory,
    dilation: int = 1,
) -> nn.Sequential:
    """Return a stride-1 conv that keeps the spatial size, followed by ``norm_layer`` and ReLU."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            padding=padding,
            dilation=dilation,
            bias=False,
        ),
        norm_layer(out_channels),
        nn.ReLU(inplace=True),
    )
