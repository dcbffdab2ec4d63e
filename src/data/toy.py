"""Small synthetic datasets in the real ImageNet and ADE20K on-disk layouts.

They let every part of the pipeline (datamodules, training, evaluation, export) run in
seconds without downloading anything, while still being learnable, so a toy run that does
not learn points at a real bug. Generation is deterministic (same arguments, same bytes)
and idempotent: a ``.complete`` marker holding the generation parameters is written last
into the dataset folder (the ImageNet root, or ``ADEChallengeData2016``), and a tree with a
matching marker is left alone; a tree whose generation was interrupted is rewritten. The
generators only ever write inside that folder, and refuse to touch one holding other files.
"""

from __future__ import annotations

import fcntl
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from src.data.ade20k_classes import ADE20K_CLASSES
from src.data.toy_drawing import (
    SHAPE_KINDS,
    cluttered_background,
    noise_texture,
    paint,
    shape_stencil,
    to_uint8,
)

COMPLETE_MARKER = ".complete"
_IN_PROGRESS_MARKER = ".generating"
_LOCK_FILE = ".lock"
# Bump when the drawing code changes, so trees written by older code are regenerated.
_GENERATOR_VERSION = 1
_SPLIT_SEED = {"train": 0, "val": 1}
_JPEG_QUALITY = 92

# Toy ADE20K scene classes and their look: base RGB colour, texture cell size (pixels) and
# texture amplitude. One fixed look per class is what makes the toy segmentation learnable.
_ADE_LOOK: dict[str, tuple[tuple[int, int, int], int, float]] = {
    "sky": ((120, 170, 235), 24, 10.0),
    "grass": ((60, 140, 50), 2, 28.0),
    "road": ((95, 95, 100), 1, 12.0),
    "building": ((170, 90, 60), 8, 8.0),
    "tree": ((25, 80, 30), 3, 25.0),
    "person": ((200, 60, 190), 6, 10.0),
    "car": ((215, 30, 35), 12, 6.0),
}
TOY_ADE20K_CLASSES: tuple[str, ...] = tuple(_ADE_LOOK)


# Enough images for a small ResNeSt to pass 0.9 val accuracy in a few hundred CPU steps
# (the toy_cls preset: 400 at batch 64).
TOY_TRAIN_PER_CLASS = 400
TOY_VAL_PER_CLASS = 25


def wants_toy(root: str | Path, toy: bool, toy_root: str | Path | None) -> bool:
    """Whether a missing toy set is generated at ``root``: when asked for (``data.toy=true``),
    or when ``root`` is the folder a toy preset keeps its data in (``data.toy_root``). Any
    other root that is missing is a layout error, so a typo in ``data.root`` never fills a
    new folder with toy images that then get trained on."""
    if toy:
        return True
    return toy_root is not None and Path(root).absolute() == Path(toy_root).absolute()


def has_complete_toy(dataset: str | Path) -> bool:
    """Whether ``dataset`` (a toy ImageNet root, or a toy ``ADEChallengeData2016`` folder)
    holds a fully written toy dataset, of any generation parameters."""
    return (Path(dataset) / COMPLETE_MARKER).is_file()


def make_toy_imagenet(
    root: str | Path,
    num_classes: int = 8,
    train_per_class: int = TOY_TRAIN_PER_CLASS,
    val_per_class: int = TOY_VAL_PER_CLASS,
    image_size: int = 64,
    seed: int = 0,
) -> Path:
    """Write a toy ImageNet: ``root/{train,val}/<wnid>/*.JPEG``; return ``root``.

    Class ``k`` is one shape kind (circle, square, triangle, ...) drawn with a random size,
    position and rotation on a cluttered background, with small occluding distractors. Its
    colour is drawn around a class-typical hue with a spread that overlaps the neighbouring
    classes: colour gets a small CNN started within a few hundred CPU steps, and only the shape
    separates the overlapping cases, so accuracy keeps measuring learning rather than
    saturating at once. Folder names look like WordNet ids (``n00000000``, ...), and val files
    are named like ILSVRC2012 val images.
    """
    if not 1 <= num_classes <= len(SHAPE_KINDS):
        raise ValueError(
            f"make_toy_imagenet: num_classes={num_classes} is out of range; the toy set has "
            f"{len(SHAPE_KINDS)} shape kinds, use 1..{len(SHAPE_KINDS)}"
        )
    root = Path(root)
    params = {
        "dataset": "imagenet",
        "num_classes": num_classes,
        "train_per_class": train_per_class,
        "val_per_class": val_per_class,
        "image_size": image_size,
        "seed": seed,
    }

    def write() -> None:
        for label, kind in enumerate(SHAPE_KINDS[:num_classes]):
            wnid = f"n{label:08d}"
            for split, count in (("train", train_per_class), ("val", val_per_class)):
                folder = root / split / wnid
                folder.mkdir(parents=True)
                for index in range(count):
                    rng = np.random.default_rng([seed, _SPLIT_SEED[split], label, index])
                    name = (
                        f"{wnid}_{index}.JPEG"
                        if split == "train"
                        else f"ILSVRC2012_val_{label * count + index + 1:08d}.JPEG"
                    )
                    # Stride 3 spreads similar shapes (circle/ellipse, ring/stripes) apart in hue.
                    hue = (3 * label % num_classes) / num_classes
                    _write_jpeg(folder / name, _shape_scene(rng, kind, image_size, hue))

    _generate_once(root, params, write)
    return root


def make_toy_ade20k(
    root: str | Path,
    num_train: int = 96,
    num_val: int = 24,
    image_size: tuple[int, int] = (96, 128),
    num_classes: int = 150,
    seed: int = 0,
) -> Path:
    """Write a toy ADE20K under ``root/ADEChallengeData2016``; return that dataset folder.

    Each image is an outdoor scene of sky, grass and road with buildings, trees, people and
    cars (ADE20K class ids, one fixed colour/texture per class) plus random "other" objects
    and one-pixel region boundaries that are labelled 0 (ignored), like real ADE20K masks.
    ``image_size`` is (height, width).
    """
    largest_id = max(ADE20K_CLASSES.index(name) + 1 for name in TOY_ADE20K_CLASSES)
    if num_classes < largest_id:
        raise ValueError(
            f"make_toy_ade20k: num_classes={num_classes} is below the largest toy class id "
            f"{largest_id} ({ADE20K_CLASSES[largest_id - 1]}); use num_classes >= {largest_id}"
        )
    root = Path(root)
    dataset = root / "ADEChallengeData2016"
    height, width = (int(size) for size in image_size)
    params = {
        "dataset": "ade20k",
        "num_train": num_train,
        "num_val": num_val,
        "image_size": [height, width],
        "num_classes": num_classes,
        "seed": seed,
    }

    def write() -> None:
        for split, folder, prefix, count in (
            ("train", "training", "ADE_train", num_train),
            ("val", "validation", "ADE_val", num_val),
        ):
            images = dataset / "images" / folder
            masks = dataset / "annotations" / folder
            images.mkdir(parents=True)
            masks.mkdir(parents=True)
            for index in range(count):
                rng = np.random.default_rng([seed, _SPLIT_SEED[split], index])
                image, labels = _street_scene(rng, (height, width))
                stem = f"{prefix}_{index + 1:08d}"
                _write_jpeg(images / f"{stem}.jpg", image)
                cv2.imwrite(str(masks / f"{stem}.png"), labels)

    _generate_once(dataset, params, write)
    return dataset


def _generate_once(dataset: Path, params: dict[str, object], write: Callable[[], None]) -> None:
    """Run ``write`` to fill ``dataset`` unless it already holds a tree made with ``params``.

    The folder is locked meanwhile, so processes that ask for the same toy set at the same
    time (e.g. every rank of a DDP job) generate it once and all see the finished tree.
    """
    signature = json.dumps({**params, "version": _GENERATOR_VERSION}, sort_keys=True)
    marker = dataset / COMPLETE_MARKER
    if marker.is_file() and marker.read_text() == signature:
        return
    dataset.mkdir(parents=True, exist_ok=True)
    with open(dataset / _LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == signature:
            return
        in_progress = dataset / _IN_PROGRESS_MARKER
        entries = [entry for entry in dataset.iterdir() if entry.name != _LOCK_FILE]
        if entries and not (marker.exists() or in_progress.exists()):
            raise FileExistsError(
                f"Cannot write a toy dataset into '{dataset}': the folder already holds "
                "files that no toy generator wrote. Point data.root at a new or empty folder, "
                "or set data.toy=false to use the data that is there."
            )
        in_progress.touch()
        for entry in entries:
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry != in_progress:
                entry.unlink()
        write()
        marker.write_text(signature)
        in_progress.unlink()


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]
    )
    if not ok:
        raise OSError(f"OpenCV could not encode a JPEG for '{path}'")
    path.write_bytes(encoded.tobytes())


def _shape_scene(rng: np.random.Generator, kind: str, size: int, hue: float) -> np.ndarray:
    """One classification image: a ``kind`` shape on clutter, partly occluded, coloured near
    ``hue`` (in [0, 1))."""
    hw = (size, size)
    canvas = cluttered_background(rng, hw)
    radius = rng.uniform(0.3, 0.42) * size
    margin = 0.9 * radius
    center = (rng.uniform(margin, size - margin), rng.uniform(margin, size - margin))
    stencil = shape_stencil(kind, hw, center, radius, rng.uniform(0, 2 * math.pi))
    colour = _contrasting_colour(rng, canvas[stencil].mean(axis=0), hue)
    fill = colour + noise_texture(rng, hw, cell=4, amplitude=rng.uniform(0.0, 10.0))
    paint(canvas, stencil, fill, softness=0.6)
    for _ in range(int(rng.integers(0, 3))):
        blob = shape_stencil(
            "circle",
            hw,
            (rng.uniform(0, size), rng.uniform(0, size)),
            rng.uniform(0.03, 0.07) * size,
            0.0,
        )
        paint(canvas, blob, rng.uniform(0, 255, 3), softness=0.6)
    return to_uint8(canvas)


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray, hue: float) -> np.ndarray:
    """A colour near ``hue`` that stands out from ``background`` (so every image is solvable)."""
    colour = _colour_near(rng, hue)
    for _ in range(50):
        if np.abs(colour - background).sum() > 250:
            break
        colour = _colour_near(rng, hue)
    return colour


def _colour_near(rng: np.random.Generator, hue: float) -> np.ndarray:
    """RGB (0-255) with hue ``hue`` +- a spread reaching into the neighbouring classes' hues."""
    jittered = (hue + rng.normal(0.0, 0.05)) % 1.0
    hsv = np.array([[[jittered * 180.0, rng.uniform(120, 255), rng.uniform(110, 255)]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _street_scene(rng: np.random.Generator, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One segmentation sample: RGB image and raw ADE20K mask (0 = other, k = class k)."""
    canvas = np.zeros((*hw, 3), np.float32)
    labels = np.zeros(hw, np.uint8)
    horizon = _add_sky_and_ground(rng, canvas, labels)
    for name, stencil, most in _STREET_OBJECTS:
        for _ in range(int(rng.integers(0, most + 1))):
            _region(rng, canvas, labels, stencil(rng, hw, horizon), name)
    for _ in range(int(rng.integers(0, 3))):
        kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
        center = (rng.uniform(0, hw[1]), rng.uniform(0, hw[0]))
        radius = rng.uniform(0.05, 0.12) * hw[0]
        other = shape_stencil(kind, hw, center, radius, rng.uniform(0, 2 * math.pi))
        paint(canvas, other, rng.uniform(0, 255, 3), softness=0.0)
        labels[other] = 0
    labels[_region_boundaries(labels)] = 0
    canvas += rng.normal(0.0, 3.0, canvas.shape)
    return to_uint8(canvas), labels


def _add_sky_and_ground(rng: np.random.Generator, canvas: np.ndarray, labels: np.ndarray) -> float:
    """Sky above a wavy horizon, grass below, often a road; return the mean horizon row."""
    height, width = labels.shape
    ys, xs = np.mgrid[0:height, 0:width]
    phase, waves = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 2.0)
    wave = np.sin(phase + waves * 2 * math.pi * xs / width)
    horizon = rng.uniform(0.3, 0.55) * height + rng.uniform(0, 0.06) * height * wave
    sky = ys < horizon
    _region(rng, canvas, labels, sky, "sky")
    _region(rng, canvas, labels, ~sky, "grass")
    mean_row = float(horizon.mean())
    if rng.random() < 0.7:
        top_x, bottom_x = rng.uniform(0.3, 0.7) * width, rng.uniform(0.2, 0.8) * width
        half_top, half_bottom = rng.uniform(0.02, 0.06) * width, rng.uniform(0.2, 0.4) * width
        road = _polygon_stencil(
            labels.shape,
            [
                (top_x - half_top, mean_row),
                (top_x + half_top, mean_row),
                (bottom_x + half_bottom, height),
                (bottom_x - half_bottom, height),
            ],
        )
        _region(rng, canvas, labels, road & ~sky, "road")
    return mean_row


def _building(rng: np.random.Generator, hw: tuple[int, int], horizon: float) -> np.ndarray:
    """A building's stencil: a box standing on the horizon."""
    height, width = hw
    left, span = rng.uniform(-0.1, 0.9) * width, rng.uniform(0.12, 0.3) * width
    top = horizon - rng.uniform(0.2, 0.45) * height
    bottom = horizon + rng.uniform(0.0, 0.05) * height
    return _box(hw, left, top, left + span, bottom)


def _tree(rng: np.random.Generator, hw: tuple[int, int], horizon: float) -> np.ndarray:
    """A tree's stencil: a trunk under a round crown, near the horizon."""
    height, width = hw
    x, size = rng.uniform(0, width), rng.uniform(0.06, 0.12) * height
    foot = horizon + rng.uniform(-0.05, 0.15) * height
    trunk = _box(hw, x - size / 5, foot - size, x + size / 5, foot)
    return trunk | shape_stencil("circle", hw, (x, foot - 1.6 * size), size, 0.0)


def _car(rng: np.random.Generator, hw: tuple[int, int], horizon: float) -> np.ndarray:
    """A car's stencil: a body on two wheels, below the horizon."""
    height, width = hw
    x, y = rng.uniform(0.05, 0.95) * width, rng.uniform(horizon + 0.1 * height, height)
    length = rng.uniform(0.12, 0.22) * width
    body = _box(hw, x - length / 2, y - length / 3, x + length / 2, y)
    for wheel_x in (x - length / 3, x + length / 3):
        body |= shape_stencil("circle", hw, (wheel_x, y), length / 8, 0.0)
    return body


def _person(rng: np.random.Generator, hw: tuple[int, int], horizon: float) -> np.ndarray:
    """A person's stencil: an upright body under a head, below the horizon."""
    height, width = hw
    x, feet = rng.uniform(0.05, 0.95) * width, rng.uniform(horizon + 0.05 * height, height)
    tall = rng.uniform(0.15, 0.3) * height
    body = shape_stencil("ellipse", hw, (x, feet - tall / 2), tall / 2, math.pi / 2)
    return body | shape_stencil("circle", hw, (x, feet - tall - tall / 8), tall / 7, 0.0)


# The objects of a street scene: class, stencil, and how many of it at most.
_STREET_OBJECTS = (
    ("building", _building, 2),
    ("tree", _tree, 3),
    ("car", _car, 2),
    ("person", _person, 2),
)


def _region(
    rng: np.random.Generator, canvas: np.ndarray, labels: np.ndarray, stencil: np.ndarray, name: str
) -> None:
    """Paint one region in its class look and write its ADE20K class id into ``labels``."""
    base, cell, amplitude = _ADE_LOOK[name]
    colour = np.asarray(base, np.float32) + rng.normal(0.0, 10.0, 3)
    fill = colour + noise_texture(rng, labels.shape, cell=cell, amplitude=amplitude)
    paint(canvas, stencil, fill, softness=0.0)
    labels[stencil] = ADE20K_CLASSES.index(name) + 1


def _box(hw: tuple[int, int], left: float, top: float, right: float, bottom: float) -> np.ndarray:
    return _polygon_stencil(hw, [(left, top), (right, top), (right, bottom), (left, bottom)])


def _polygon_stencil(hw: tuple[int, int], corners: list[tuple[float, float]]) -> np.ndarray:
    stencil = np.zeros(hw, np.uint8)
    cv2.fillPoly(stencil, [np.rint(np.asarray(corners)).astype(np.int32)], 1)
    return stencil.astype(bool)


def _region_boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels whose label differs from the pixel right of or below them."""
    edges = np.zeros(labels.shape, bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edges
