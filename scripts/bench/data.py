"""Data section: decode + augment images/s of one worker, ours against the PIL pipelines.

The files are generated: photo-like JPEGs of ImageNet's typical size (500x375) and ADE20K's
(683x512, with a PNG label mask), smooth colour fields plus sensor-like noise so that they
compress like photographs. Each pipeline is timed over the same files, interleaved, in this
process (``num_workers=0``) on one thread, as in a loader worker (which PyTorch limits to one
thread; OpenCV is limited here too): a loader with W workers delivers up to W times that rate
when it has W free cores. An output check shows that both sides produce the same kind of tensors.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from scripts.bench import pil_reference
from scripts.bench.timing import Candidate, Measurement, measure_interleaved, threads
from src.data.ade20k import ADE20KDataModule, ADE20KDataset
from src.data.imagenet import ImageFolderDataset, ImageNetDataModule
from src.utils.table import Table, fmt

IMAGENET_SIZE = (375, 500)  # height, width of a typical ImageNet photo
ADE20K_SIZE = (512, 683)
ADE20K_CLASSES = 150
JPEG_QUALITY = 90
# Colour-field cell size and grain of the generated photos: at quality 90 they come out near
# ImageNet's ~110 KiB average JPEG (138 GB / 1.28 M training images).
FIELD_CELL = 12
GRAIN_STD = 18.0

# One pipeline: sample index -> (normalised CHW image, class index or label map).
Pipeline = Callable[[int], tuple[torch.Tensor, torch.Tensor | int]]


@dataclass
class Files:
    """Generated dataset files: ImageNet-like images, ADE20K-like image/mask pairs."""

    folder: Path
    imagenet: list[Path]
    ade20k: list[tuple[Path, Path]]

    def mean_kib(self) -> tuple[float, float]:
        """Mean size of the ImageNet and ADE20K JPEGs, to compare with real ones."""
        imagenet = np.mean([path.stat().st_size for path in self.imagenet]) / 1024
        ade20k = np.mean([image.stat().st_size for image, _ in self.ade20k]) / 1024
        return float(imagenet), float(ade20k)


def photo_like(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An RGB uint8 image: a smooth random colour field plus fine grain."""
    cells = (height // FIELD_CELL + 2, width // FIELD_CELL + 2, 3)
    coarse = rng.uniform(0, 255, cells).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, GRAIN_STD, (height, width, 3))
    return np.clip(field + grain, 0, 255).astype(np.uint8)


def label_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blocky regions of ADE20K raw labels 0..150 (0 = "other", ignored in training)."""
    coarse = rng.integers(0, ADE20K_CLASSES + 1, (height // 48 + 1, width // 48 + 1))
    return cv2.resize(coarse.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)


def write_files(folder: Path, count: int, seed: int = 0) -> Files:
    """``count`` ImageNet-like JPEGs and ``count`` ADE20K-like JPEG + PNG pairs in ``folder``."""
    rng = np.random.default_rng(seed)
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    files = Files(folder, [], [])
    for index in range(count):
        path = folder / f"imagenet_{index:04d}.JPEG"
        cv2.imwrite(
            str(path), cv2.cvtColor(photo_like(rng, *IMAGENET_SIZE), cv2.COLOR_RGB2BGR), jpeg
        )
        files.imagenet.append(path)
        image, mask = folder / f"ADE_train_{index:08d}.jpg", folder / f"ADE_train_{index:08d}.png"
        cv2.imwrite(
            str(image), cv2.cvtColor(photo_like(rng, *ADE20K_SIZE), cv2.COLOR_RGB2BGR), jpeg
        )
        cv2.imwrite(str(mask), label_mask(rng, *ADE20K_SIZE))
        files.ade20k.append((image, mask))
    return files


def pipelines(files: Files, crop: int) -> dict[str, Pipeline]:
    """This project's training pipelines (datamodule defaults) and the PIL references."""
    rng = random.Random(0)
    imagenet = ImageFolderDataset(
        [(path, 0) for path in files.imagenet],
        ImageNetDataModule(root=str(files.folder), train_crop=crop).train_transform,
    )
    ade20k = ADE20KDataset(files.ade20k, ADE20KDataModule(root=str(files.folder)).train_transform)
    return {
        "imagenet/ours (cv2 + albumentations)": lambda i: _pair(imagenet[i]),
        "imagenet/PIL reference": lambda i: (
            pil_reference.imagenet_train(files.imagenet[i], rng, crop),
            0,
        ),
        "ade20k/ours (cv2 + albumentations)": lambda i: _pair(ade20k[i]),
        "ade20k/PIL reference": lambda i: pil_reference.ade20k_train(*files.ade20k[i], rng),
    }


def _pair(sample: dict | None) -> tuple[torch.Tensor, torch.Tensor | int]:
    if sample is None:
        raise RuntimeError("a generated benchmark file was reported as corrupt")
    return sample["image"], sample["target"]


def data_section(count: int, crop: int, repeats: int, warmup: int) -> list[Table]:
    """Throughput and output-check tables for ``count`` generated files per dataset."""
    with tempfile.TemporaryDirectory(prefix="resnest-bench-") as folder:
        files = write_files(Path(folder), count)
        runs = pipelines(files, crop)
        candidates = [
            Candidate(name, lambda run=run: [run(i) for i in range(count)], count)
            for name, run in runs.items()
        ]
        with threads(1):
            results = measure_interleaved(candidates, repeats, warmup, min_sample_s=0.0)
        check = output_check({name: [run(i) for i in range(count)] for name, run in runs.items()})
        sizes = files.mean_kib()
    speed = _speed_table(results, count, crop)
    speed.notes.append(
        f"Generated files: mean JPEG {sizes[0]:.0f} KiB at {IMAGENET_SIZE[1]}x{IMAGENET_SIZE[0]} "
        f"(ImageNet train averages ~110 KiB), {sizes[1]:.0f} KiB at "
        f"{ADE20K_SIZE[1]}x{ADE20K_SIZE[0]} plus a PNG mask."
    )
    return [speed, check]


def _speed_table(results: dict[str, Measurement], count: int, crop: int) -> Table:
    table = Table(
        title=f"Data: decode + augment, one worker ({count} files per repeat)",
        columns=["pipeline", "img/s per worker", "ms/img", "x PIL", "spread %"],
    )
    for name, result in results.items():
        dataset = name.split("/", 1)[0]
        baseline = results[f"{dataset}/PIL reference"]
        if result.failure:
            table.add_unmeasured(name, "failed", result.failure)
            continue
        ratio = None if baseline.failure else result.rate / baseline.rate
        table.add_row(
            name,
            fmt(result.rate, 1),
            fmt(1000 / result.rate, 2),
            fmt(ratio),
            fmt(100 * result.spread, 0),
        )
    table.notes += [
        f"imagenet: random resized crop to {crop} (bicubic), flip, colour jitter 0.4, "
        "normalise; ade20k: random long-side rescale [0.5, 2] x 520, pad, random 480 crop, "
        "flip, normalise (mask: nearest).",
        "ours = the datamodules' own train transforms with their default settings, read "
        "through their datasets; PIL reference = scripts/bench/pil_reference.py. One thread "
        "(torch and OpenCV), as in a loader worker.",
    ]
    return table


def output_check(outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor | int]]]) -> Table:
    """Shape, dtype and value statistics of every pipeline's images and targets."""
    table = Table(
        title="Data: output check (one pass over the files)",
        columns=["pipeline", "image", "dtype", "min", "max", "mean", "std", "target"],
        text_columns=3,
    )
    for name, samples in outputs.items():
        images = torch.stack([image for image, _ in samples])
        table.add_row(
            name,
            "x".join(map(str, images.shape[1:])),
            str(images.dtype).removeprefix("torch."),
            fmt(images.min().item()),
            fmt(images.max().item()),
            fmt(images.mean().item()),
            fmt(images.std().item()),
            _describe_targets([target for _, target in samples]),
        )
    table.notes.append(
        "Statistics over all pixels of all samples; crops, flips and jitter are random, so "
        "means differ slightly between pipelines and runs."
    )
    return table


def _describe_targets(targets: list[torch.Tensor | int]) -> str:
    if isinstance(targets[0], int):
        return "class index (int)"
    labels = torch.stack([torch.as_tensor(t) for t in targets])
    ignore = 255 if labels.dtype == torch.uint8 else -1
    valid = labels[labels != ignore]
    span = f"{valid.min().item()}..{valid.max().item()}" if valid.numel() else "none"
    share = (labels == ignore).float().mean().item()
    dtype = str(labels.dtype).removeprefix("torch.")
    return f"{dtype} labels {span}, ignore {ignore} on {100 * share:.0f}%"
