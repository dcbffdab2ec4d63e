"""How a classifier's accuracy is measured: the evaluation transform that weights expect, and
which protocol applies when the weights and the data config both have a say.

Plain data of the data layer: the ImageNet datamodule builds its evaluation transform from an
:class:`EvalProtocol` (:func:`~src.data.classification_transforms.protocol_transform`), and the
table of released weights (src/models/backbones/variants.py) records each checkpoint's. The
entry points join the two (the weights' protocol, the data config's settings) once, by the rule
of :func:`resolve_eval_protocol`; a script without a model (export) reads a config's own
protocol with :func:`configured_eval_protocol`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger(__name__)

# How an evaluation crop is taken from an image (see ``EvalProtocol``).
CROP_RULES = ("crop_then_resize", "resize_then_crop")
# The official evaluation script's ECenterCrop: the crop is crop / (crop + 32) of the short side.
ECENTER_MARGIN = 32


def ecenter_crop_pct(crop: int) -> float:
    """The crop fraction of the official ``ECenterCrop(crop)``: 224/256, 256/288, 320/352, ..."""
    return crop / (crop + ECENTER_MARGIN)


@dataclass(frozen=True)
class EvalProtocol:
    """How a checkpoint's accuracy was measured: the evaluation transform it expects.

    ``rule="crop_then_resize"`` (the official ``ECenterCrop``): a centred square of
    ``crop_pct`` of the short side, resized to ``crop`` x ``crop``. ``rule="resize_then_crop"``
    (timm / torchvision): the short side resized to ``crop / crop_pct``, then a centred
    ``crop`` x ``crop``.
    """

    crop: int
    crop_pct: float
    rule: str
    interpolation: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def describe(self) -> str:
        """One line for tables and logs, e.g. ``crop 416: centred 0.929 of the short side ...``."""
        if self.rule == "crop_then_resize":
            how = (
                f"ECenterCrop, centred {self.crop_pct:.3f} of the short side resized to {self.crop}"
            )
        else:
            how = f"short side resized to {round(self.crop / self.crop_pct)}, centre {self.crop}"
        stats = (
            "ImageNet mean/std"
            if (self.mean, self.std) == (IMAGENET_MEAN, IMAGENET_STD)
            else (f"mean {self.mean} std {self.std}")
        )
        return f"crop {self.crop} ({self.rule}: {how}), {self.interpolation}, {stats}"


def official_protocol(crop: int) -> EvalProtocol:
    """The official evaluation script's protocol at ``crop``: ECenterCrop, bicubic."""
    return EvalProtocol(crop, ecenter_crop_pct(crop), "crop_then_resize", "bicubic")


# Without weights that say otherwise: 224 px, resize to 256 then centre crop (the datamodule
# uses its training interpolation).
DEFAULT_EVAL_PROTOCOL = EvalProtocol(224, 0.875, "resize_then_crop", "bicubic")
EVAL_PROTOCOL_KEYS = ("crop", "crop_pct", "rule", "interpolation", "mean", "std")
# The data.* key of each protocol field.
EVAL_CONFIG_KEYS = {
    "crop": "eval_crop",
    "crop_pct": "crop_pct",
    "rule": "crop_rule",
    "interpolation": "eval_interpolation",
    "mean": "mean",
    "std": "std",
}


def resolve_eval_protocol(
    configured: dict[str, Any],
    weights: EvalProtocol | None,
    weights_name: str = "the weights",
    default: EvalProtocol = DEFAULT_EVAL_PROTOCOL,
) -> EvalProtocol:
    """The evaluation protocol: each ``data.*`` setting given explicitly, else the loaded
    weights' own, else ``default``. An explicit setting that contradicts the weights is logged
    once, naming both values."""
    fallback = weights or default
    chosen: dict[str, Any] = {}
    for field in EVAL_PROTOCOL_KEYS:
        value = configured.get(field)
        own = getattr(fallback, field)
        if value is None:
            chosen[field] = own
            continue
        value = tuple(float(v) for v in value) if field in ("mean", "std") else value
        if weights is not None and not _same(value, own):
            log.warning(
                "data.%s=%s overrides the %s of %s (%s): the reported accuracy was measured "
                "with %s. Remove the setting to follow the weights.",
                EVAL_CONFIG_KEYS[field],
                value,
                field,
                weights_name,
                own,
                weights.describe(),
            )
        chosen[field] = value
    return EvalProtocol(**chosen)


def default_eval_protocol(interpolation: str) -> EvalProtocol:
    """Without weights to follow: 224 / 0.875, resized with the training interpolation."""
    return replace(DEFAULT_EVAL_PROTOCOL, interpolation=interpolation)


def configured_eval_protocol(
    data: Mapping[str, Any], weights: EvalProtocol | None = None, weights_name: str = "the weights"
) -> EvalProtocol:
    """The evaluation protocol that a ``data`` config asks for, following the loaded weights'
    own (``weights``) where it leaves a setting out; with none, what a run trained from scratch
    was validated with."""
    settings = {field: data.get(key) for field, key in EVAL_CONFIG_KEYS.items()}
    default = default_eval_protocol(data.get("interpolation", DEFAULT_EVAL_PROTOCOL.interpolation))
    return resolve_eval_protocol(settings, weights, weights_name, default=default)


def _same(value: Any, own: Any) -> bool:
    if isinstance(own, float):
        return abs(float(value) - own) < 5e-4
    return value == own
