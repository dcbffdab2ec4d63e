"""The official ResNeSt implementation (``resnest`` 0.0.5 on PyPI), the benchmark's baseline.

Names the official package defines are built by its own constructors. Other registered
variants (resnest14, resnest26, ...) are built from the official ``ResNet`` class with the
settings of their table row, so every backbone has an official counterpart to race against.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from src.models.backbones import VARIANTS, ResNeSt

# Table keys the official ResNet cannot express, with the value it hard-codes.
_OFFICIAL_FIXED = {
    "reduction_factor": 4,
    "round_to_groups": False,
    "norm_layer": "batchnorm",
    "zero_init_last": False,
}


def build_official(name: str, num_classes: int = 1000) -> nn.Module:
    """The official model of the registered backbone ``name``, randomly initialised."""
    try:
        import resnest.torch as official
        from resnest.torch.resnet import Bottleneck, ResNet
    except ImportError as error:
        raise ImportError(
            "the benchmark's baseline is the official ResNeSt code: pip install resnest==0.0.5 "
            f"(it is in the dev extras: pip install -e '.[dev]'); import failed with: {error}"
        ) from error
    if hasattr(official, name):
        return getattr(official, name)(pretrained=False, num_classes=num_classes)
    arch = {**_resnest_defaults(), **VARIANTS[name].arch}
    unsupported = {
        key: value
        for key, value in arch.items()
        if key in _OFFICIAL_FIXED and value != _OFFICIAL_FIXED[key]
    }
    if unsupported:
        raise ValueError(
            f"backbone {name!r} uses settings the official ResNeSt code does not have "
            f"({unsupported}); benchmark a variant without them."
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
        num_classes=num_classes,
    )


def _resnest_defaults() -> dict[str, Any]:
    """Our constructor's defaults, which a table row leaves implicit."""
    parameters = inspect.signature(ResNeSt.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
