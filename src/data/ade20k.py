"""ADE20K (SceneParsing, 150 classes) segmentation data: layout, labels, dataset, datamodule.

Layout: ``ADEChallengeData2016/{images,annotations}/{training,validation}``, with
``images/<split>/ADE_*.jpg`` and a same-named ``annotations/<split>/ADE_*.png`` mask each.
Mask value 0 ("other") is ignored and value k becomes label k - 1 (mmsegmentation's
``reduce_zero_label``), so training labels are 0..149 and 255 marks ignored pixels.
The transforms are segmentation's (:mod:`src.data.segmentation_transforms`), with ADE20K's
sizes as the datamodule's defaults.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np

from src.data.ade20k_classes import ADE20K_CLASSES
from src.data.collate import IGNORE_INDEX, CollateSamples, Sample
from src.data.datamodule import TrainValDataModule
from src.data.guarded_dataset import GuardedDataset
from src.data.image_io import (
    CorruptSampleError,
    ImageSource,
    is_image_file,
    read_mask,
    read_rgb,
)
from src.data.segmentation_transforms import train_transform, val_transform
from src.data.shard_format import Unreadable
from src.data.sources import DEFAULT_FORMAT
from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD
from src.data.toy import has_complete_toy, make_toy_ade20k, wants_toy
from src.utils.config_types import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

DATASET_FOLDER = "ADEChallengeData2016"
SPLIT_FOLDERS: dict[str, str] = {"train": "training", "val": "validation"}
FULL_SIZES: dict[str, int] = {"train": 20_210, "val": 2_000}

_EXPECTED_TREE = (
    f"expected {DATASET_FOLDER}/{{images,annotations}}/{{training,validation}} "
    f"(data.root may be {DATASET_FOLDER} itself or the folder that contains it)"
)


def resolve_dataset_dir(root: str | Path) -> Path:
    """The ``ADEChallengeData2016`` folder for ``root`` (that folder or its parent)."""
    root = Path(root)
    for candidate in (root / DATASET_FOLDER, root):
        if (candidate / "images").is_dir() and (candidate / "annotations").is_dir():
            return candidate
    reason = "does not exist" if not root.exists() else "has no images/ and annotations/ folders"
    raise FileNotFoundError(
        f"ADE20K root '{root}' {reason}; {_EXPECTED_TREE}. Set data.root accordingly "
        "(or data.toy=true to generate a toy set there)."
    )


def find_pairs(
    dataset_dir: str | Path, split: str
) -> tuple[list[tuple[str, str]], list[Unreadable]]:
    """``(image, mask)`` paths of one split, and the images that have no mask (with the mask
    path that was expected), for a caller that reports them rather than stops."""
    dataset_dir = Path(dataset_dir)
    folder = SPLIT_FOLDERS[split]
    images_dir = dataset_dir / "images" / folder
    masks_dir = dataset_dir / "annotations" / folder
    for needed in (images_dir, masks_dir):
        if not needed.is_dir():
            raise FileNotFoundError(f"ADE20K folder '{needed}' is missing; {_EXPECTED_TREE}")
    images = sorted(
        entry.name
        for entry in os.scandir(images_dir)
        if entry.is_file() and is_image_file(entry.name)
    )
    if not images:
        raise FileNotFoundError(f"ADE20K folder '{images_dir}' has no images; {_EXPECTED_TREE}")
    masks = {entry.name for entry in os.scandir(masks_dir) if entry.is_file()}
    pairs: list[tuple[str, str]] = []
    missing: list[Unreadable] = []
    for name in images:
        mask_name = os.path.splitext(name)[0] + ".png"
        if mask_name in masks:
            pairs.append((str(images_dir / name), str(masks_dir / mask_name)))
        else:
            reason = f"has no mask: expected '{masks_dir / mask_name}'"
            missing.append(Unreadable(str(images_dir / name), reason))
    return pairs, missing


def list_pairs(dataset_dir: str | Path, split: str) -> list[tuple[str, str]]:
    """``(image, mask)`` paths of one split; every image must have its mask."""
    pairs, missing = find_pairs(dataset_dir, split)
    if missing:
        total = len(pairs) + len(missing)
        raise FileNotFoundError(
            f"ADE20K image '{missing[0].path}' {missing[0].reason} ({len(missing)} of {total} "
            f"{SPLIT_FOLDERS[split]} images lack one). Restore the annotations, or remove the "
            "images that have none."
        )
    return pairs


# reduce_zero_label as a lookup table: 0 -> 255, k -> k - 1, 255 -> 255.
_REDUCE_ZERO_LABEL = np.array([IGNORE_INDEX, *range(254), IGNORE_INDEX], np.uint8)


def reduce_zero_label(mask: np.ndarray, num_classes: int, path: ImageSource) -> np.ndarray:
    """Map raw mask values to training labels: 0 -> 255 (ignore), k -> k - 1, 255 stays.

    Any other value above ``num_classes`` means the mask is not an ADE20K annotation. The
    maximum alone clears almost every mask, so the per-pixel check runs only when it is
    above ``num_classes``.
    """
    if mask.max(initial=0) > num_classes:
        invalid = (mask > num_classes) & (mask != IGNORE_INDEX)
        if invalid.any():
            found = np.unique(mask[invalid])[:5].tolist()
            raise CorruptSampleError(
                path,
                f"mask values outside the class range: found {found}, expected "
                f"0..{num_classes} (0 = other) or 255",
            )
    return cv2.LUT(mask, _REDUCE_ZERO_LABEL)


class ADE20KDataset(GuardedDataset):
    """Image/mask pairs, decoded, label-mapped and transformed on access.

    Returns a :class:`~src.data.collate.Sample` whose target is an ``(H, W)`` uint8 label
    tensor, or None for a corrupt pair when ``on_corrupt="skip"``. Keys are indices, or
    :class:`~src.data.samplers.SampleKey` items that also seed the augmentation.
    """

    fields = ("image", "mask")

    def __init__(
        self,
        pairs: Sequence[tuple[str | Path, str | Path]],
        transform: A.Compose,
        num_classes: int = len(ADE20K_CLASSES),
        on_corrupt: str = "error",
    ) -> None:
        super().__init__(pairs, transform, on_corrupt)
        self.num_classes = num_classes

    def load(self, image_path: ImageSource, mask_path: ImageSource) -> Sample:
        image = read_rgb(image_path)
        mask = read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise CorruptSampleError(
                mask_path,
                f"mask is {mask.shape[0]}x{mask.shape[1]} (HxW) but its image '{image_path}' "
                f"is {image.shape[0]}x{image.shape[1]}",
            )
        labels = reduce_zero_label(mask, self.num_classes, mask_path)
        out = self.transform(image=image, mask=labels)
        return Sample(image=out["image"], target=out["mask"])


class ADE20KDataModule(TrainValDataModule):
    """ADE20K for semantic segmentation.

    Batch sizes, loaders and the shared settings: :class:`~src.data.datamodule.TrainValDataModule`.
    Validation images keep their aspect ratio, so their sizes differ: with
    ``val_batch_size > 1`` they are padded within the batch (image black, labels 255).
    Batches are dicts, see :mod:`src.data.collate`. ``class_names`` lists the
    ``num_classes`` names.
    """

    kind = "ade20k"

    def __init__(
        self,
        root: str,
        batch_size: PositiveInt = 16,
        val_batch_size: PositiveInt = 1,
        num_workers: NonNegativeInt = 8,
        base_size: int = 520,
        crop_size: int = 480,
        scale_range: tuple[float, float] = (0.5, 2.0),
        hflip: float = 0.5,
        photometric: bool = False,
        val_resize: str = "base",
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        on_corrupt: str = "error",
        toy: bool = False,
        toy_root: str | None = None,
        num_classes: int = len(ADE20K_CLASSES),
        seed: int = 0,
        format: str = DEFAULT_FORMAT,
        cache_dir: str | None = None,
        cache_size: str | None = None,
        storage_options: dict[str, Any] | None = None,
        normalize_on_device: bool = False,
    ) -> None:
        if not 1 <= num_classes <= len(ADE20K_CLASSES):
            raise ValueError(
                f"data.num_classes={num_classes} must be in 1..{len(ADE20K_CLASSES)} for ADE20K"
            )
        super().__init__(
            root,
            batch_size=batch_size,
            val_batch_size=val_batch_size,
            num_workers=num_workers,
            mean=mean,
            std=std,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            on_corrupt=on_corrupt,
            toy=toy,
            toy_root=toy_root,
            seed=seed,
            format=format,
            cache_dir=cache_dir,
            cache_size=cache_size,
            storage_options=storage_options,
            normalize_on_device=normalize_on_device,
        )
        self.num_classes = num_classes
        self.class_names = list(ADE20K_CLASSES[:num_classes])
        self.train_transform = train_transform(
            base_size,
            crop_size,
            (float(scale_range[0]), float(scale_range[1])),
            hflip,
            photometric,
            self.mean,
            self.std,
            normalize_on_device,
        )
        self.val_transform = val_transform(base_size, val_resize, self.mean, self.std)

    def prepare_tree(self) -> None:
        """Generate the toy set where one is wanted (:func:`~src.data.toy.wants_toy`) and
        ``root`` does not hold a complete one."""
        container = self.root.parent if self.root.name == DATASET_FOLDER else self.root
        if not wants_toy(container, self.toy, self.toy_root):
            return
        if not has_complete_toy(container / DATASET_FOLDER):
            make_toy_ade20k(container, num_classes=self.num_classes)

    @property
    def declared_num_classes(self) -> int:
        return self.num_classes

    def list_items(self, split: str) -> list[tuple[str, str]]:
        return list_pairs(resolve_dataset_dir(self.root), split)

    def list_split(self, split: str) -> tuple[list[tuple[str, str]], list[Unreadable]]:
        return find_pairs(resolve_dataset_dir(self.root), split)

    def make_dataset(self, items: Sequence[tuple[str, str]], transform: A.Compose) -> ADE20KDataset:
        return ADE20KDataset(items, transform, self.num_classes, self.on_corrupt)

    def setup(self, stage: str | None = None) -> None:
        """Open the splits ``stage`` needs (a file tree's layout is checked here)."""
        counts: dict[str, int] = {}
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self.split_set("train", self.train_transform, train=True)
            counts["train"] = self.split_length("train", self.train_set)
        if self.val_set is None:
            self.val_set = self.split_set("val", self.val_transform, train=False)
            counts["val"] = self.split_length("val", self.val_set)
        if any(counts[split] != FULL_SIZES[split] for split in counts):
            found = " / ".join(f"{counts[split]:,} {SPLIT_FOLDERS[split]}" for split in counts)
            full = " / ".join(f"{FULL_SIZES[split]:,}" for split in counts)
            log.warning(
                "ADE20K at '%s' has %s pairs (full dataset: %s)", self.source.location, found, full
            )

    def collate(self, train: bool) -> CollateSamples:
        """Training crops share one size; validation images are padded to the batch's
        largest, black in the normalised image (``-mean / std``) and ignored in the labels."""
        black = tuple(-m / s for m, s in zip(self.mean, self.std, strict=True))
        return CollateSamples(segmentation=True, image_pad=None if train else black)
