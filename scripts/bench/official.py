"""The official ResNeSt implementation (``resnest`` 0.0.5 on PyPI): the benchmark's baseline
and the oracle of the equivalence tests.

Names the official package defines are built by its own constructors. Other registered
variants (resnest14, resnest26, ...) are built from the official ``ResNet`` class with the
settings of their table row, so every backbone has an official counterpart to race against.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from src.models.backbones import VARIANTS, ResNeSt

# The models the official package defines, each with its own constructor.
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

# The official ResNet expresses output stride through two flags.
_OFFICIAL_STRIDE_KWARGS: dict[int, dict[str, Any]] = {
    32: {},
    16: {"dilation": 2},
    8: {"dilated": True},
}

# Table keys the official ResNet cannot express, with the value it hard-codes.
_OFFICIAL_FIXED = {
    "reduction_factor": 4,
    "round_to_groups": False,
    "norm_layer": "batchnorm",
    "zero_init_last": False,
}


def build_official(name: str, num_classes: int = 1000, output_stride: int = 32) -> nn.Module:
    """The official model of the registered backbone ``name``, randomly initialised."""
    try:
        import resnest.torch as official
        from resnest.torch.resnet import Bottleneck, ResNet
    except ImportError as error:
        raise ImportError(
            "the official ResNeSt code is needed here: pip install resnest==0.0.5 "
            f"(it is in the dev extras: pip install -e '.[dev]'); import failed with: {error}"
        ) from error
    if output_stride not in _OFFICIAL_STRIDE_KWARGS:
        raise ValueError(
            f"output_stride={output_stride}: the official ResNeSt code has "
            f"{sorted(_OFFICIAL_STRIDE_KWARGS)}"
        )
    common = {"num_classes": num_classes, **_OFFICIAL_STRIDE_KWARGS[output_stride]}
    if name in OFFICIAL_NAMES:
        return getattr(official, name)(pretrained=False, **common)
    arch = {**_resnest_defaults(), **VARIANTS[name].arch}
    unsupported = {
        key: value
        for key, value in arch.items()
        if key in _OFFICIAL_FIXED and value != _OFFICIAL_FIXED[key]
    }
    if unsupported:
        raise ValueError(
            f"backbone {name!r} uses settings the official ResNeSt code does not have "
            f"({unsupported}); use a variant without them."
        )
    return ResNet(
        Bottleneck,
        list(arch["layers"]),
        radix=arch["radix"],
        groups=arch["cardinality"],
        bottleneck_width=arch["bottleneck_width"],
        deep_stem=arch["deep_stem"],
        stem_width=arch["stem_width"],
        avg_down=arch["avg_down"],
        avd=arch["avd"],
        avd_first=arch["avd_first"],
        final_drop=arch["final_drop"],
        **common,
    )


def _resnest_defaults() -> dict[str, Any]:
    """Our constructor's defaults, which a table row leaves implicit."""
    parameters = inspect.signature(ResNeSt.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
