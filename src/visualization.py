"""Colourised masks and image | ground truth | prediction panels for people to look at."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from src.data.collate import IGNORE_INDEX

IGNORE_COLOUR = (0, 0, 0)


def palette(num_classes: int, seed: int = 7) -> np.ndarray:
    """A fixed, well-spread colour per class (num_classes x 3, uint8); the ignore index is black."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, size=(256, 3), dtype=np.uint8)
    colours[IGNORE_INDEX] = IGNORE_COLOUR
    return colours[: max(num_classes, 256)]


def colorize(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """H x W labels (``IGNORE_INDEX`` = ignore) -> H x W x 3 uint8 colours."""
    return palette(num_classes)[mask.astype(np.int64).clip(0, IGNORE_INDEX)]


def overlay(
    image: np.ndarray, mask: np.ndarray, num_classes: int, alpha: float = 0.5
) -> np.ndarray:
    """The colourised mask blended over the RGB image (ignored pixels show the image)."""
    colours = colorize(mask, num_classes).astype(np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + colours * alpha
    keep = (mask == IGNORE_INDEX)[..., None]
    return np.where(keep, image, blended).astype(np.uint8)


def denormalize(image: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """A normalised 3 x H x W tensor back to H x W x 3 uint8 RGB."""
    mean_t = torch.tensor(mean, device=image.device).view(3, 1, 1)
    std_t = torch.tensor(std, device=image.device).view(3, 1, 1)
    rgb = (image.float() * std_t + mean_t).clamp(0, 1) * 255
    return rgb.permute(1, 2, 0).round().byte().cpu().numpy()


def side_by_side(
    image: np.ndarray, target: np.ndarray, prediction: np.ndarray, num_classes: int
) -> np.ndarray:
    """image | ground truth | prediction, as one H x 3W x 3 uint8 picture."""
    return np.concatenate(
        [image, colorize(target, num_classes), colorize(prediction, num_classes)], axis=1
    )


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    """An RGB array as an image file (OpenCV writes BGR)."""
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
