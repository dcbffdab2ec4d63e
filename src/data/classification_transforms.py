"""Classification transforms: the Inception-style training crop and the evaluation crops.

Kept apart from the ImageNet folder code because they are not ImageNet's: any classifier's
images go through them, and :func:`protocol_transform` builds the transform that an
:class:`~src.data.eval_protocol.EvalProtocol` describes (the one released weights were measured
with), wherever images come from. Shared pieces (the normalise-to-tensor step, interpolation
names, RandAugment / AutoAugment) are in :mod:`src.data.transforms`.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import numpy as np
from PIL import Image

from src.data.eval_protocol import CROP_RULES, EvalProtocol
from src.data.transforms import (
    NormalizeToTensor,
    build_policy,
    interpolation_flag,
    pil_interpolation,
    to_tensor,
)


def train_transform(
    crop: int,
    scale: tuple[float, float],
    interpolation: str,
    hflip: float,
    color_jitter: float,
    auto_augment: str | None,
    randaug_n: int,
    randaug_m: int,
    mean: Sequence[float],
    std: Sequence[float],
    normalize_on_device: bool = False,
) -> A.Compose:
    """Inception-style training crop, flip, colour jitter, optional policy, normalise (or, with
    ``normalize_on_device``, uint8 pixels that the device normalises)."""
    steps: list[A.BasicTransform] = [
        A.RandomResizedCrop(
            size=(crop, crop),
            scale=scale,
            ratio=(3 / 4, 4 / 3),
            interpolation=interpolation_flag(interpolation),
        ),
        A.HorizontalFlip(p=hflip),
    ]
    if color_jitter > 0:
        jitter = color_jitter
        steps.append(
            A.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=0, p=1)
        )
    policy = build_policy(auto_augment, randaug_n, randaug_m)
    if policy is not None:
        steps.append(policy)
    return A.Compose([*steps, to_tensor(mean, std, normalize_on_device)])


def centred_square_box(height: int, width: int, crop_pct: float) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the official ``ECenterCrop``'s centred square.

    Its side is ``crop_pct`` of the short side; top/left are rounded, and the right/bottom
    edges are rounded again after adding the (fractional) side, as PIL's ``crop`` does.
    """
    side = crop_pct * min(height, width)
    top = round((height - side) / 2)
    left = round((width - side) / 2)
    return left, top, round(left + side), round(top + side)


class CentredCropResize(A.ImageOnlyTransform):
    """The official evaluation crop: a centred square of ``crop_pct`` of the short side,
    resized to ``size`` x ``size`` with PIL (bicubic for the released weights).

    The resize is PIL's, as in the script that measured the released weights' accuracy:
    PIL filters antialias when downscaling and OpenCV's do not, which moves top-1 by tenths.
    """

    def __init__(self, size: int, crop_pct: float, interpolation: str) -> None:
        super().__init__(p=1.0)
        self.size = size
        self.crop_pct = crop_pct
        self.interpolation = interpolation
        self._filter = pil_interpolation(interpolation)

    def apply(self, img: np.ndarray, **params: object) -> np.ndarray:
        left, top, right, bottom = centred_square_box(*img.shape[:2], self.crop_pct)
        crop = Image.fromarray(np.ascontiguousarray(img[top:bottom, left:right]))
        return np.asarray(crop.resize((self.size, self.size), self._filter))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("size", "crop_pct", "interpolation")


def eval_transform(
    crop: int,
    crop_pct: float,
    interpolation: str,
    mean: Sequence[float],
    std: Sequence[float],
    rule: str = "resize_then_crop",
) -> A.Compose:
    """The evaluation crop by ``rule`` (see :class:`~src.data.eval_protocol.EvalProtocol`).

    ``resize_then_crop``: resize the shorter side to ``crop / crop_pct`` (224 -> 256), then
    centre-crop; ``crop_then_resize``: :class:`CentredCropResize` (the official ECenterCrop).
    """
    if not 0 < crop_pct <= 1:
        raise ValueError(f"data.crop_pct={crop_pct} must be in (0, 1] (0.875 is standard)")
    if rule == "crop_then_resize":
        steps: list[A.BasicTransform] = [CentredCropResize(crop, crop_pct, interpolation)]
    elif rule == "resize_then_crop":
        steps = [
            A.SmallestMaxSize(
                max_size=round(crop / crop_pct), interpolation=interpolation_flag(interpolation)
            ),
            A.CenterCrop(height=crop, width=crop),
        ]
    else:
        raise ValueError(f"data.crop_rule={rule!r} is not one of {list(CROP_RULES)}")
    return A.Compose([*steps, NormalizeToTensor(mean, std)])


def protocol_transform(protocol: EvalProtocol) -> A.Compose:
    """The evaluation transform of ``protocol``."""
    return eval_transform(
        protocol.crop,
        protocol.crop_pct,
        protocol.interpolation,
        protocol.mean,
        protocol.std,
        protocol.rule,
    )
