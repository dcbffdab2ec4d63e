"""The ResNeSt network: bottleneck blocks with split attention on a ResNet-D trunk.

One class expresses the whole family and its baselines: ``radix=0`` gives a plain grouped 3x3
conv (ResNet-D / ResNeXt-D), ``radix>=1`` the split-attention block. Module names follow the
official ``resnest`` package so its checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from src.models.backbones.norm import NormFactory, make_norm_factory
from src.models.backbones.split_attention import DropBlock2D, SplitAttentionConv2d
from src.utils.config_types import NonNegativeInt, PositiveInt

if TYPE_CHECKING:
    from src.models.backbones.pretrained import LoadedWeights

EXPANSION = 4
STAGE_PLANES = (64, 128, 256, 512)

# Official dilation scheme: output stride -> (stride, dilation) of layer3 and layer4.
DILATION_SCHEME: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {
    32: ((2, 1), (2, 1)),
    16: ((2, 1), (1, 2)),
    8: ((1, 2), (1, 4)),
}


def group_width(
    planes: int,
    bottleneck_width: float,
    cardinality: int,
    radix: int,
    reduction_factor: int,
    round_to_groups: bool,
) -> int:
    """Channels of a block's 3x3 stage: the official ``int(planes * width / 64) * cardinality``.

    With ``round_to_groups`` the result is rounded to the nearest width that every grouped conv
    of the block accepts (a multiple of ``cardinality x lcm(radix, reduction_factor)``; of
    ``cardinality`` for radix 0), which lets an equal-compute search pick any bottleneck width.
    """
    width = int(planes * (bottleneck_width / 64.0)) * cardinality
    if not round_to_groups:
        return width
    multiple = cardinality * (math.lcm(radix, reduction_factor) if radix > 0 else 1)
    return max(round(width / multiple), 1) * multiple


class Bottleneck(nn.Module):
    """1x1 -> (avd pool) -> 3x3 split-attention -> (avd pool) -> 1x1, plus the shortcut."""

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        radix: int,
        cardinality: int,
        bottleneck_width: float,
        round_to_groups: bool,
        avd: bool,
        avd_first: bool,
        dilation: int,
        reduction_factor: int,
        norm: NormFactory,
        dropblock_prob: float,
    ) -> None:
        super().__init__()
        width = group_width(
            planes, bottleneck_width, cardinality, radix, reduction_factor, round_to_groups
        )
        self.radix = radix
        self.avd_first = avd_first
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = norm(width)
        self.dropblock1 = _dropblock(dropblock_prob)
        if avd:
            self.avd_layer: nn.Module | None = nn.AvgPool2d(3, stride, padding=1)
            conv_stride = 1
        else:
            self.avd_layer = None
            conv_stride = stride
        if radix >= 1:
            self.conv2: nn.Module = SplitAttentionConv2d(
                width,
                width,
                3,
                conv_stride,
                padding=dilation,
                dilation=dilation,
                radix=radix,
                cardinality=cardinality,
                reduction_factor=reduction_factor,
                norm=norm,
                dropblock_prob=dropblock_prob,
            )
            self.bn2: nn.Module | None = None
        else:
            self.conv2 = nn.Conv2d(
                width,
                width,
                3,
                conv_stride,
                padding=dilation,
                dilation=dilation,
                groups=cardinality,
                bias=False,
            )
            self.bn2 = norm(width)
            self.dropblock2 = _dropblock(dropblock_prob)
        self.conv3 = nn.Conv2d(width, planes * EXPANSION, 1, bias=False)
        self.bn3 = norm(planes * EXPANSION)
        self.dropblock3 = _dropblock(dropblock_prob)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.dropblock1(self.bn1(self.conv1(x))))
        if self.avd_layer is not None and self.avd_first:
            out = self.avd_layer(out)
        out = self.conv2(out)
        if self.bn2 is not None:
            out = self.relu(self.dropblock2(self.bn2(out)))
        if self.avd_layer is not None and not self.avd_first:
            out = self.avd_layer(out)
        return self.join(self.dropblock3(self.bn3(self.conv3(out))), shortcut)

    def join(self, out: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        """The residual connection: the block's output added to the shortcut, then ReLU."""
        return self.relu(out + shortcut)


def _dropblock(prob: float) -> nn.Module:
    return DropBlock2D(prob) if prob > 0 else nn.Identity()


class ResNeSt(nn.Module):
    """ResNeSt / ResNet-D / ResNeXt-D trunk with a classifier and multi-scale features.

    ``forward`` returns logits (or pooled features when ``num_classes == 0``);
    ``forward_features`` returns the stage outputs C2..C5, whose channels and strides are known
    before any forward pass through ``feature_info``.

    DropBlock (only in layer3 and layer4, as in the official code) ramps linearly from 0 to
    ``dropblock_prob``: the training loop calls :meth:`set_dropblock_progress` with the fraction
    of the ramp done.
    """

    def __init__(
        self,
        layers: tuple[int, int, int, int] | list[int],
        *,
        radix: NonNegativeInt = 2,
        cardinality: PositiveInt = 1,
        bottleneck_width: float = 64,
        round_to_groups: bool = False,
        stem_width: PositiveInt = 32,
        deep_stem: bool = True,
        avg_down: bool = True,
        avd: bool = True,
        avd_first: bool = False,
        reduction_factor: PositiveInt = 4,
        dropblock_prob: float = 0.0,
        final_drop: float = 0.0,
        zero_init_last: bool = False,
        norm_layer: str = "batchnorm",
        norm_groups: int = 32,
        output_stride: int = 32,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        self.pretrained_cfg: LoadedWeights | None = None
        norm = make_norm_factory(norm_layer, norm_groups)
        stem_out = stem_width * 2 if deep_stem else 64
        if deep_stem:
            self.conv1: nn.Module = nn.Sequential(
                nn.Conv2d(in_chans, stem_width, 3, 2, 1, bias=False),
                norm(stem_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_width, stem_width, 3, 1, 1, bias=False),
                norm(stem_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_width, stem_out, 3, 1, 1, bias=False),
            )
        else:
            self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1 = norm(stem_out)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

        block_args: dict[str, Any] = dict(
            radix=radix,
            cardinality=cardinality,
            bottleneck_width=bottleneck_width,
            round_to_groups=round_to_groups,
            avd=avd,
            avd_first=avd_first,
            reduction_factor=reduction_factor,
            norm=norm,
        )
        (stride3, dilation3), (stride4, dilation4) = DILATION_SCHEME[output_stride]
        stage_specs = [(1, 1, 0.0), (2, 1, 0.0), (stride3, dilation3, dropblock_prob)]
        stage_specs.append((stride4, dilation4, dropblock_prob))
        in_channels = stem_out
        self.feature_info: list[dict[str, Any]] = []
        reduction = 4
        for index, (planes, blocks, (stride, dilation, drop)) in enumerate(
            zip(STAGE_PLANES, layers, stage_specs, strict=True), start=1
        ):
            stage = self._make_stage(
                in_channels,
                planes,
                blocks,
                stride,
                dilation,
                is_first=index > 1,
                avg_down=avg_down,
                dropblock_prob=drop,
                block_args=block_args,
            )
            self.add_module(f"layer{index}", stage)
            in_channels = planes * EXPANSION
            reduction *= stride
            self.feature_info.append(
                {"num_chs": in_channels, "reduction": reduction, "module": f"layer{index}"}
            )

        self.num_features = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(final_drop) if final_drop > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(zero_init_last)

    @staticmethod
    def _make_stage(
        in_channels: int,
        planes: int,
        blocks: int,
        stride: int,
        dilation: int,
        *,
        is_first: bool,
        avg_down: bool,
        dropblock_prob: float,
        block_args: dict[str, Any],
    ) -> nn.Sequential:
        out_channels = planes * EXPANSION
        norm: NormFactory = block_args["norm"]
        downsample = None
        if stride != 1 or in_channels != out_channels:
            if avg_down:
                # A 1x1 stride-1 pool (official code, in layer1 and dilated stages) is the
                # identity: skip the kernel but keep the slot so state-dict keys stay official.
                pool_stride = stride if dilation == 1 else 1
                pool = (
                    nn.AvgPool2d(pool_stride, pool_stride, ceil_mode=True, count_include_pad=False)
                    if pool_stride > 1
                    else nn.Identity()
                )
                downsample = nn.Sequential(
                    pool,
                    nn.Conv2d(in_channels, out_channels, 1, bias=False),
                    norm(out_channels),
                )
            else:
                downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                    norm(out_channels),
                )
        avd = block_args["avd"]
        first = Bottleneck(
            in_channels,
            planes,
            stride,
            downsample,
            dilation=max(dilation // 2, 1),
            dropblock_prob=dropblock_prob,
            **{**block_args, "avd": avd and (stride > 1 or is_first)},
        )
        rest = [
            Bottleneck(
                out_channels,
                planes,
                dilation=dilation,
                dropblock_prob=dropblock_prob,
                **{**block_args, "avd": False},
            )
            for _ in range(1, blocks)
        ]
        return nn.Sequential(first, *rest)

    def _init_weights(self, zero_init_last: bool) -> None:
        """He init for convs (as the official code); zero gamma on each block's last norm if asked,
        so every residual block starts as the identity."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif zero_init_last and isinstance(module, Bottleneck):
                nn.init.zeros_(module.bn3.weight)

    def set_dropblock_progress(self, progress: float) -> None:
        """Ramp every DropBlock to ``dropblock_prob * progress`` (progress in [0, 1])."""
        for module in self.modules():
            if isinstance(module, DropBlock2D):
                module.set_progress(progress)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the outputs of layer1..layer4 (C2..C5)."""
        x = self.stem(x)
        features = []
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
            features.append(x)
        return features

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(torch.flatten(self.avgpool(x), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.forward_head(x)
