"""Transform pieces shared by the task transforms, built from albumentations ops.

Each task assembles its own pipelines (crop, resize, flip) in
:mod:`src.data.classification_transforms` and :mod:`src.data.segmentation_transforms`; what
both need, or what is long enough to deserve a name, lives here: the final normalise-to-tensor
step, interpolation names, the RandAugment / AutoAugment policies and the photometric
distortion.

Policy magnitudes follow torchvision's conventions so that settings carry over: RandAugment's
``m`` is on a 0..30 scale (torchvision's 31 bins; ``m=9`` is its default), AutoAugment's
levels are bin indices 0..9 of the same ranges, and signed ops pick their sign at random.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from functools import partial

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.core.type_definitions import Targets
from PIL import Image

INTERPOLATIONS: dict[str, int] = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}

# PIL's filters under the same names ("area" is PIL's box filter).
PIL_INTERPOLATIONS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}

AUTO_AUGMENT_POLICIES: tuple[str, ...] = ("randaugment", "autoaugment")
RANDAUGMENT_MAX_MAGNITUDE = 30


def interpolation_flag(name: str) -> int:
    """OpenCV flag for a ``data.interpolation`` name."""
    try:
        return INTERPOLATIONS[name]
    except KeyError:
        raise ValueError(
            f"data.interpolation={name!r} is not a known interpolation; use one of "
            f"{sorted(INTERPOLATIONS)}"
        ) from None


def pil_interpolation(name: str) -> Image.Resampling:
    """PIL filter for a ``data.interpolation`` name."""
    interpolation_flag(name)  # the same names, and the same error for an unknown one
    return PIL_INTERPOLATIONS[name]


def normalization(mean: Sequence[float], std: Sequence[float]) -> tuple[list[float], list[float]]:
    """Per-channel ``(scale, shift)`` with ``(pixel / 255 - mean) / std == pixel * scale + shift``,
    for every place that normalises images (in a loader worker or on the device)."""
    if len(mean) != len(std):
        raise ValueError(f"data.mean {tuple(mean)} and data.std {tuple(std)} differ in length")
    scale = [1 / (255 * float(s)) for s in std]
    shift = [-float(m) / float(s) for m, s in zip(mean, std, strict=True)]
    return scale, shift


def normalize_batch(
    pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """A ``(B, C, H, W)`` uint8 batch as normalised float32, computed where it lies (on the
    GPU after the copy, for ``data.normalize_on_device``). Each value is within a float32
    rounding (~1e-7) of what :class:`NormalizeToTensor` gives in a worker."""
    scale, shift = normalization(mean, std)
    shape = (1, len(scale), 1, 1)
    as_tensor = partial(torch.tensor, dtype=torch.float32, device=pixels.device)
    return pixels.float().mul_(as_tensor(scale).view(shape)).add_(as_tensor(shift).view(shape))


class _ToTensor(A.BasicTransform):
    """A last step that turns the image into a CHW tensor and a mask into an ``(H, W)`` tensor
    of the dtype it had."""

    _targets = (Targets.IMAGE, Targets.MASK)

    def __init__(self) -> None:
        super().__init__(p=1.0)

    @property
    def targets(self) -> dict[str, Callable[..., torch.Tensor]]:
        return {"image": self.apply, "mask": self.apply_to_mask}

    def apply_to_mask(self, mask: np.ndarray, **params: object) -> torch.Tensor:
        return torch.from_numpy(mask)


class NormalizeToTensor(_ToTensor):
    """Last step: ``(pixel / 255 - mean) / std`` as a contiguous CHW float32 tensor.

    Each channel is scaled and shifted in one OpenCV pass written straight into the tensor's
    memory, which is about 3x faster than albumentations' ``Normalize`` + ``ToTensorV2`` (an
    HWC float image, then a strided view of it that the collate function has to copy again).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self._scale, self._shift = normalization(mean, std)
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)

    def apply(self, img: np.ndarray, **params: object) -> torch.Tensor:
        planes = cv2.split(img) if img.ndim == 3 else (img,)
        if len(planes) != len(self._scale):
            raise ValueError(
                f"image has {len(planes)} channels but data.mean/std have {len(self._scale)}"
            )
        out = torch.empty((len(planes), *img.shape[:2]), dtype=torch.float32)
        for plane, target, scale, shift in zip(
            planes, out.numpy(), self._scale, self._shift, strict=True
        ):
            # With a zero second weight, addWeighted is OpenCV's one-pass scale-and-shift.
            cv2.addWeighted(plane, scale, plane, 0.0, shift, dst=target, dtype=cv2.CV_32F)
        return out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mean", "std")


class PixelsToTensor(_ToTensor):
    """Last training step when the batch is normalised on the device
    (``data.normalize_on_device``, :func:`normalize_batch`): the image as a contiguous CHW uint8
    tensor, a quarter of float32's bytes through the workers' shared memory and no float pass
    in the worker."""

    def apply(self, img: np.ndarray, **params: object) -> torch.Tensor:
        if img.dtype != np.uint8 or img.ndim != 3:
            raise ValueError(f"expected an (H, W, C) uint8 image, got {img.dtype} {img.shape}")
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ()


def to_tensor(
    mean: Sequence[float], std: Sequence[float], normalize_on_device: bool
) -> A.BasicTransform:
    """The last step of a training transform: normalise here, or leave it to the device."""
    return PixelsToTensor() if normalize_on_device else NormalizeToTensor(mean, std)


def reseed(transform: A.BaseCompose, seed: int) -> None:
    """Make every step of ``transform`` draw, in turn, from one stream seeded with ``seed``.

    Training samples carry a seed that is a function of (run seed, epoch, index) only, so their
    augmentation is the same whichever process or worker loads them, and after a resume.
    (albumentations' ``set_random_seed`` would give each step its own generator but with the
    same seed, so the draws of different steps, e.g. flip and crop, would coincide.)
    """
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def build_policy(name: str | None, num_ops: int = 2, magnitude: int = 9) -> A.BasicTransform | None:
    """The named augmentation policy, or None when ``name`` is None.

    ``num_ops`` and ``magnitude`` are RandAugment's N and M and are ignored by AutoAugment,
    which uses the fixed ImageNet policy of Cubuk et al. (2019).
    """
    if name is None:
        return None
    if name == "randaugment":
        if not 0 <= magnitude <= RANDAUGMENT_MAX_MAGNITUDE:
            raise ValueError(
                f"data.randaug_m={magnitude} is outside 0..{RANDAUGMENT_MAX_MAGNITUDE} "
                "(torchvision's scale)"
            )
        level = magnitude / RANDAUGMENT_MAX_MAGNITUDE
        ops = [_op(op_name, level) for op_name in _RANDAUGMENT_OPS]
        return A.SomeOf(ops, n=num_ops, replace=True, p=1.0)
    if name == "autoaugment":
        sub_policies = [
            A.Sequential([_op(op, level / 9, p) for op, p, level in pair], p=1.0)
            for pair in _AUTOAUGMENT_IMAGENET
        ]
        return A.OneOf(sub_policies, p=1.0)
    raise ValueError(
        f"data.auto_augment={name!r} is not a known policy; use null or one of "
        f"{list(AUTO_AUGMENT_POLICIES)}"
    )


def photometric_distortion() -> A.BasicTransform:
    """mmsegmentation's PhotoMetricDistortion for uint8 RGB images.

    Brightness shift of up to +-32 levels, contrast factor 0.5..1.5, saturation factor
    0.5..1.5 and hue shift of up to +-18 (OpenCV's 0..180 hue scale), each applied with
    probability 0.5; contrast comes first or last at random, as in mmsegmentation.
    """

    def brightness() -> A.BasicTransform:
        return A.RandomBrightnessContrast(
            brightness_limit=32 / 255, contrast_limit=0, brightness_by_max=True, p=0.5
        )

    def contrast() -> A.BasicTransform:
        return A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=0.5, p=0.5)

    def saturation_and_hue() -> list[A.BasicTransform]:
        return [
            A.ColorJitter(brightness=0, contrast=0, saturation=(0.5, 1.5), hue=0, p=0.5),
            A.HueSaturationValue(hue_shift_limit=18, sat_shift_limit=0, val_shift_limit=0, p=0.5),
        ]

    contrast_first = A.Sequential([brightness(), contrast(), *saturation_and_hue()], p=1.0)
    contrast_last = A.Sequential([brightness(), *saturation_and_hue(), contrast()], p=1.0)
    return A.OneOf([contrast_first, contrast_last], p=1.0)


def _op(name: str, level: float, p: float = 1.0) -> A.BasicTransform:
    """One policy op at ``level`` in [0, 1] of its range, applied with probability ``p``.

    Signed ops become a coin flip between ``+level`` and ``-level``.
    """
    if name in _SIGNED_OPS:
        return A.OneOf([_fixed_op(name, level, 1.0), _fixed_op(name, -level, 1.0)], p=p)
    return _fixed_op(name, level, p)


def _fixed_op(name: str, level: float, p: float) -> A.BasicTransform:
    """Op ``name`` at exactly ``level`` (in [-1, 1]) of torchvision's range.

    Ranges: shear factor 0.3, translation 150/331 of the side, rotation 30 degrees,
    enhancement factors 1 +- 0.9, posterize down to 4 bits, solarize threshold 255 down to 0.
    """
    factor = (1.0 + 0.9 * level,) * 2
    if name == "Identity":
        return A.NoOp(p=p)
    if name in ("ShearX", "ShearY"):
        angle = (math.degrees(math.atan(0.3 * level)),) * 2
        axes = {"x": angle, "y": (0.0, 0.0)} if name == "ShearX" else {"x": (0.0, 0.0), "y": angle}
        return A.Affine(shear=axes, p=p)
    if name in ("TranslateX", "TranslateY"):
        shift = (0.45 * level,) * 2
        axes = (
            {"x": shift, "y": (0.0, 0.0)} if name == "TranslateX" else {"x": (0.0, 0.0), "y": shift}
        )
        return A.Affine(translate_percent=axes, p=p)
    if name == "Rotate":
        return A.Affine(rotate=(30.0 * level,) * 2, p=p)
    if name == "Brightness":
        return A.ColorJitter(brightness=factor, contrast=0, saturation=0, hue=0, p=p)
    if name == "Color":
        return A.ColorJitter(brightness=0, contrast=0, saturation=factor, hue=0, p=p)
    if name == "Contrast":
        return A.ColorJitter(brightness=0, contrast=factor, saturation=0, hue=0, p=p)
    if name == "Sharpness":
        # Sharpen cannot blur, so a negative level sharpens as much as a positive one.
        return A.Sharpen(alpha=(abs(0.9 * level),) * 2, lightness=(1.0, 1.0), p=p)
    if name == "Posterize":
        bits = 8 - round(4 * level)
        return A.NoOp(p=p) if bits == 8 else A.Posterize(num_bits=bits, p=p)
    if name == "Solarize":
        return A.Solarize(threshold_range=(1.0 - level, 1.0 - level), p=p)
    if name == "AutoContrast":
        return A.AutoContrast(method="pil", p=p)
    if name == "Equalize":
        return A.Equalize(p=p)
    if name == "Invert":
        return A.InvertImg(p=p)
    raise ValueError(f"unknown augmentation op {name!r}")


_SIGNED_OPS = frozenset(
    ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
     "Contrast", "Sharpness")
)  # fmt: skip

_RANDAUGMENT_OPS: tuple[str, ...] = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)

# AutoAugment ImageNet policy: 25 sub-policies of two (op, probability, level 0..9) steps.
_AUTOAUGMENT_IMAGENET: tuple[tuple[tuple[str, float, int], ...], ...] = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 0)),
    (("Equalize", 0.8, 0), ("Equalize", 0.6, 0)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, 0), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, 0), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 0)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, 0)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, 0), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, 0)),
    (("Equalize", 0.0, 0), ("Equalize", 0.8, 0)),
    (("Invert", 0.6, 0), ("Equalize", 1.0, 0)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, 0)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 0)),
    (("Color", 0.4, 0), ("Equalize", 0.6, 0)),
    (("Equalize", 0.4, 0), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 0)),
    (("Invert", 0.6, 0), ("Equalize", 1.0, 0)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 0), ("Equalize", 0.6, 0)),
)
