"""Builders for the official ``resnest`` 0.0.5 models, the oracle of the equivalence tests."""

from __future__ import annotations

from torch import nn

OFFICIAL_NAMES = (
    "resnest50",
    "resnest101",
    "resnest200",
    "resnest269",
    "resnest50_fast_1s1x64d",
    "resnest50_fast_2s1x64d",
    "resnest50_fast_4s1x64d",
    "resnest50_fast_1s2x40d",
    "resnest50_fast_2s2x40d",
    "resnest50_fast_4s2x40d",
    "resnest50_fast_1s4x24d",
)

# The official constructors express output stride through two flags.
OFFICIAL_STRIDE_KWARGS = {32: {}, 16: {"dilation": 2}, 8: {"dilated": True}}


def build_official(name: str, output_stride: int = 32) -> nn.Module:
    from resnest.torch import ablation, resnest

    module = ablation if "fast" in name else resnest
    return getattr(module, name)(pretrained=False, **OFFICIAL_STRIDE_KWARGS[output_stride])
