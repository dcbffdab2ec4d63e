"""A few strided convs with the backbone interface (``feature_info``, ``forward_features``)."""

from __future__ import annotations

from torch import Tensor, nn

CHANNELS = (8, 16, 32, 64)
STAGE_STRIDES = {8: (4, 2, 1, 1), 16: (4, 2, 2, 1), 32: (4, 2, 2, 2)}


class TinyBackbone(nn.Module):
    """C2..C5 at reductions 4/8/8/8, 4/8/16/16 or 4/8/16/32 for output stride 8/16/32."""

    def __init__(self, output_stride: int = 8) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        self.feature_info: list[dict] = []
        in_channels, reduction = 3, 1
        for channels, stride in zip(CHANNELS, STAGE_STRIDES[output_stride], strict=True):
            self.stages.append(nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1))
            in_channels, reduction = channels, reduction * stride
            self.feature_info.append({"num_chs": channels, "reduction": reduction})

    def forward_features(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
