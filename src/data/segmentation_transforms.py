"""Segmentation transforms: PyTorch-Encoding's training pipeline and the validation resize.

Training follows PyTorch-Encoding: random long-side rescale to [0.5, 2.0] x 520, pad to the
crop with image 0 / mask 255, random 480 crop, flip. Image and mask go through the same
geometric steps (the mask resized nearest-neighbour and padded with the ignore index). The
sizes are arguments (ADE20K's are the defaults of :class:`~src.data.ade20k.ADE20KDataModule`),
so the same transforms serve any images to segment. Shared pieces (the normalise-to-tensor
step, the photometric distortion) are in :mod:`src.data.transforms`.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2

from src.data.collate import IGNORE_INDEX
from src.data.transforms import NormalizeToTensor, photometric_distortion, to_tensor

VAL_RESIZE_MODES: tuple[str, ...] = ("base", "original")


def train_transform(
    base_size: int,
    crop_size: int,
    scale_range: tuple[float, float],
    hflip: float,
    photometric: bool,
    mean: Sequence[float],
    std: Sequence[float],
    normalize_on_device: bool = False,
) -> A.Compose:
    """Random long-side rescale, [photometric], pad (image 0, mask 255), random crop, flip,
    normalise (or, with ``normalize_on_device``, uint8 pixels that the device normalises).

    The photometric distortion runs before padding so that padded pixels stay exactly 0; it
    acts per pixel, so its place relative to crop and flip does not change its effect.
    """
    low, high = (round(base_size * factor) for factor in scale_range)
    steps: list[A.BasicTransform] = [
        A.LongestMaxSize(
            max_size=list(range(low, high + 1)),
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
        )
    ]
    if photometric:
        steps.append(photometric_distortion())
    steps += [
        A.PadIfNeeded(
            min_height=crop_size,
            min_width=crop_size,
            position="top_left",
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=IGNORE_INDEX,
        ),
        A.RandomCrop(height=crop_size, width=crop_size),
        A.HorizontalFlip(p=hflip),
    ]
    return A.Compose([*steps, to_tensor(mean, std, normalize_on_device)])


def val_transform(
    base_size: int, val_resize: str, mean: Sequence[float], std: Sequence[float]
) -> A.Compose:
    """Long side to ``base_size`` ("base") or the original size ("original"); no crop."""
    if val_resize not in VAL_RESIZE_MODES:
        raise ValueError(
            f"data.val_resize={val_resize!r} is not supported; use one of {list(VAL_RESIZE_MODES)}"
        )
    steps: list[A.BasicTransform] = []
    if val_resize == "base":
        steps.append(
            A.LongestMaxSize(
                max_size=base_size,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
            )
        )
    return A.Compose([*steps, NormalizeToTensor(mean, std)])
