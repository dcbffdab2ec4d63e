"""PIL training pipelines as the official code runs them, the baseline of the data section.

ImageNet follows torchvision's ``RandomResizedCrop`` (bicubic), ``RandomHorizontalFlip``,
``ColorJitter(0.4, 0.4, 0.4)``, ``ToTensor`` and ``Normalize``, which the official ResNeSt
training script composes; ADE20K follows PyTorch-Encoding's ``_sync_transform`` (mirror,
random long side in [0.5, 2] x base size, pad, random crop). Written with PIL and numpy so the
benchmark needs no torchvision. ADE20K resizes the image bilinearly, like this project's
pipeline, so both sides do the same work (PyTorch-Encoding itself uses bicubic, which is slower).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD

_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)
_ENHANCERS = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)


def open_rgb(path: str | Path) -> Image.Image:
    """torchvision's ``pil_loader``: open, decode and convert to RGB."""
    with open(path, "rb") as handle:
        return Image.open(handle).convert("RGB")


def random_resized_box(
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: random.Random,
) -> tuple[int, int, int, int]:
    """torchvision's crop sampling: ``(left, top, width, height)`` of the area to resize.

    Ten tries at a random area fraction and log-uniform aspect ratio, then a centred crop of
    the nearest allowed aspect ratio.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    if width / height < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif width / height > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def color_jitter(image: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    """Brightness, contrast and saturation factors in [1 - s, 1 + s], applied in random order."""
    for enhancer in rng.sample(_ENHANCERS, len(_ENHANCERS)):
        image = enhancer(image).enhance(rng.uniform(1 - strength, 1 + strength))
    return image


def to_normalized_tensor(image: Image.Image) -> torch.Tensor:
    """``ToTensor`` then ``Normalize``: CHW float32, ``(pixel / 255 - mean) / std``."""
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()
    return pixels.float().div_(255).sub_(_MEAN).div_(_STD)


def imagenet_train(
    path: str | Path,
    rng: random.Random,
    crop: int = 224,
    scale: tuple[float, float] = (0.08, 1.0),
    jitter: float = 0.4,
) -> torch.Tensor:
    """Decode and augment one ImageNet training image."""
    image = open_rgb(path)
    left, top, w, h = random_resized_box(*image.size, scale, (3 / 4, 4 / 3), rng)
    image = image.crop((left, top, left + w, top + h)).resize((crop, crop), Image.BICUBIC)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return to_normalized_tensor(color_jitter(image, jitter, rng))


def ade20k_train(
    image_path: str | Path,
    mask_path: str | Path,
    rng: random.Random,
    base_size: int = 520,
    crop_size: int = 480,
    scale_range: Sequence[float] = (0.5, 2.0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode and augment one ADE20K image and its mask; labels are ``mask - 1`` (-1 ignored)."""
    image = open_rgb(image_path)
    mask = Image.open(mask_path)
    if rng.random() < 0.5:
        image, mask = image.transpose(Image.FLIP_LEFT_RIGHT), mask.transpose(Image.FLIP_LEFT_RIGHT)
    width, height = image.size
    long_side = rng.randint(int(base_size * scale_range[0]), int(base_size * scale_range[1]))
    if height > width:
        size = (int(width * long_side / height + 0.5), long_side)
    else:
        size = (long_side, int(height * long_side / width + 0.5))
    image, mask = image.resize(size, Image.BILINEAR), mask.resize(size, Image.NEAREST)
    pad = (0, 0, max(crop_size - size[0], 0), max(crop_size - size[1], 0))
    if any(pad):
        image, mask = ImageOps.expand(image, pad, fill=0), ImageOps.expand(mask, pad, fill=0)
    left = rng.randint(0, image.size[0] - crop_size)
    top = rng.randint(0, image.size[1] - crop_size)
    box = (left, top, left + crop_size, top + crop_size)
    labels = torch.from_numpy(np.array(mask.crop(box))).long() - 1
    return to_normalized_tensor(image.crop(box)), labels
