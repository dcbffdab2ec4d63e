"""Small writers for hand-made image files and dataset trees used by the data tests."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def random_rgb(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random RGB image (smooth so JPEG round trips stay close)."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (5, 5), 2)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Bytes of ``image`` saved by Pillow in ``fmt`` (JPEG, PNG, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB array with OpenCV; the extension picks the format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_mask(path: Path, labels: np.ndarray) -> Path:
    """Write a uint8 label map as a single-channel PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), labels)
    return path


def make_image_folder(root: Path, layout: dict[str, dict[str, int]]) -> Path:
    """ImageNet-style tree: ``layout[split][class] = number of JPEGs``."""
    for split, classes in layout.items():
        for name, count in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for index in range(count):
                write_rgb(root / split / name / f"{name}_{index}.JPEG", random_rgb(seed=index))
    return root


def make_ade_tree(
    root: Path, num_train: int = 2, num_val: int = 2, hw: tuple[int, int] = (24, 32)
) -> Path:
    """ADEChallengeData2016 tree under ``root`` whose masks hold labels 0..3; returns root."""
    dataset = root / "ADEChallengeData2016"
    for folder, prefix, count in (
        ("training", "ADE_train", num_train),
        ("validation", "ADE_val", num_val),
    ):
        for index in range(count):
            stem = f"{prefix}_{index + 1:08d}"
            write_rgb(dataset / "images" / folder / f"{stem}.jpg", random_rgb(*hw, seed=index))
            labels = np.zeros(hw, np.uint8)
            labels[:, hw[1] // 4 :] = 1 + index % 3
            write_mask(dataset / "annotations" / folder / f"{stem}.png", labels)
    return root
