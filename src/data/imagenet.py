"""ImageNet classification data: its folder layout, its dataset and its datamodule.

The transforms it applies are classification's, not ImageNet's
(:mod:`src.data.classification_transforms`); which evaluation protocol applies is decided by
:mod:`src.data.eval_protocol`. What is here is what only this dataset knows: where its files
are, how a file becomes a labelled sample, and how the datamodule puts the two together.

Expects the common "ImageFolder" layout of ILSVRC2012: ``root/train/<class>/*.JPEG`` and
``root/val/<class>/*.JPEG`` with the same class folders (WordNet ids) in both; class index
= position of the folder name in sorted order, as torchvision and timm do, so checkpoints
trained elsewhere line up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A

from src.data.classification_transforms import protocol_transform, train_transform
from src.data.collate import CollateSamples, Sample
from src.data.datamodule import TrainValDataModule
from src.data.eval_protocol import EvalProtocol, default_eval_protocol, resolve_eval_protocol
from src.data.guarded_dataset import GuardedDataset
from src.data.image_io import IMAGE_EXTENSIONS, ImageSource, is_image_file, read_rgb
from src.data.sources import DEFAULT_FORMAT
from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD
from src.data.toy import has_complete_toy, make_toy_imagenet, wants_toy
from src.utils.config_types import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

_EXPECTED_TREE = (
    "expected layout:\n"
    "  {root}/train/<class>/*.JPEG   one folder per class (e.g. n01440764)\n"
    "  {root}/val/<class>/*.JPEG     the same class folders as train/"
)


def find_classes(root: str | Path) -> list[str]:
    """Sorted class folder names under ``root/train``; their positions are the labels."""
    root = Path(root)
    train = root / "train"
    if not train.is_dir():
        reason = "does not exist" if not root.exists() else "has no train/ folder"
        raise FileNotFoundError(
            f"ImageNet root '{root}' {reason}; set data.root to the folder holding train/ "
            f"and val/ (or data.toy=true to generate a toy set there).\n"
            + _EXPECTED_TREE.format(root=root)
        )
    classes = sorted(entry.name for entry in os.scandir(train) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(
            f"ImageNet train folder '{train}' has no class folders.\n"
            + _EXPECTED_TREE.format(root=root)
        )
    return classes


def list_samples(root: str | Path, split: str, classes: Sequence[str]) -> list[tuple[str, int]]:
    """``(path, label)`` for every image of ``root/<split>``, checked against ``classes``."""
    root = Path(root)
    folder = root / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"ImageNet root '{root}' has no {split}/ folder.\n" + _EXPECTED_TREE.format(root=root)
        )
    entries = list(os.scandir(folder))
    loose = sorted(entry.name for entry in entries if entry.is_file() and is_image_file(entry.name))
    if loose:
        raise ValueError(
            f"ImageNet {split} folder '{folder}' holds {len(loose)} images directly "
            f"(e.g. '{loose[0]}') instead of one sub-folder per class. Move each image into "
            f"{split}/<class>/, e.g. with the widely used valprep.sh script (from "
            "soumith/imagenetloader.torch) or from the labels in LOC_val_solution.csv of the "
            "Kaggle release.\n" + _EXPECTED_TREE.format(root=root)
        )
    found = sorted(entry.name for entry in entries if entry.is_dir())
    if found != list(classes):
        missing = sorted(set(classes) - set(found))
        extra = sorted(set(found) - set(classes))
        raise ValueError(
            f"ImageNet {split} folder '{folder}' does not have the class folders of train/: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(extra)} extra "
            f"(e.g. {extra[:3]}). Both splits need the same class folders."
        )
    samples: list[tuple[str, int]] = []
    for label, name in enumerate(classes):
        files = sorted(
            entry.path
            for entry in os.scandir(folder / name)
            if entry.is_file() and is_image_file(entry.name)
        )
        if not files:
            raise ValueError(
                f"ImageNet class folder '{folder / name}' has no images (looked for "
                f"{sorted(IMAGE_EXTENSIONS)}, any case). Add its images, or remove the class "
                "from both train/ and val/."
            )
        samples.extend((path, label) for path in files)
    return samples


class ImageFolderDataset(GuardedDataset):
    """Labelled image files, decoded and transformed on access.

    Returns a :class:`~src.data.collate.Sample`, or None for a corrupt file when
    ``on_corrupt="skip"``. Items are ``(path, label)`` pairs; keys are indices, or
    :class:`~src.data.samplers.SampleKey` items that also seed the augmentation.
    """

    fields = ("image", "label")

    def load(self, path: ImageSource, label: int) -> Sample:
        image = self.transform(image=read_rgb(path))["image"]
        return Sample(image=image, target=label)


class ImageNetDataModule(TrainValDataModule):
    """ImageNet (or any ImageFolder-layout set) for classification.

    Batch size, loaders and the shared settings: :class:`~src.data.datamodule.TrainValDataModule`
    (here the evaluation loaders use ``batch_size`` too). Batches are dicts, see
    :mod:`src.data.collate`. ``class_names`` / ``num_classes`` are read from the train/ folder
    names on first use, so they are available before ``setup`` (for a toy set, that first use
    generates it). The evaluation transform follows the model's loaded weights (their crop,
    crop rule, interpolation; see ``EvalProtocol``) except for the ``eval_crop`` /
    ``crop_pct`` / ``crop_rule`` / ``eval_interpolation`` / ``mean`` / ``std`` given
    explicitly, and is fixed in ``setup``; ``eval_protocol`` says which was used.
    ``num_classes``, when given, lets the model be sized from the config and is checked
    against the folders in ``setup``.
    """

    kind = "imagenet"

    def __init__(
        self,
        root: str,
        batch_size: PositiveInt = 256,
        num_workers: NonNegativeInt = 8,
        train_crop: int = 224,
        eval_crop: int | None = None,
        crop_pct: float | None = None,
        crop_rule: str | None = None,
        eval_interpolation: str | None = None,
        scale: tuple[float, float] = (0.08, 1.0),
        interpolation: str = "bicubic",
        hflip: float = 0.5,
        color_jitter: float = 0.4,
        auto_augment: str | None = None,
        randaug_n: int = 2,
        randaug_m: int = 9,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        on_corrupt: str = "error",
        toy: bool = False,
        toy_root: str | None = None,
        num_classes: int | None = None,
        seed: int = 0,
        format: str = DEFAULT_FORMAT,
        cache_dir: str | None = None,
        cache_size: str | None = None,
        storage_options: dict[str, Any] | None = None,
        normalize_on_device: bool = False,
    ) -> None:
        super().__init__(
            root,
            batch_size=batch_size,
            val_batch_size=batch_size,
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
        self._declared_num_classes = num_classes
        self.train_transform = train_transform(
            train_crop,
            (float(scale[0]), float(scale[1])),
            interpolation,
            hflip,
            color_jitter,
            auto_augment,
            randaug_n,
            randaug_m,
            self.mean,
            self.std,
            normalize_on_device,
        )
        self._eval_settings: dict[str, Any] = {
            "crop": eval_crop,
            "crop_pct": crop_pct,
            "rule": crop_rule,
            "interpolation": eval_interpolation,
            "mean": self.mean,
            "std": self.std,
        }
        self._default_protocol = default_eval_protocol(interpolation)
        # Checked now, so a bad setting fails before any data is read.
        self.eval_protocol = resolve_eval_protocol(
            self._eval_settings, None, default=self._default_protocol
        )
        protocol_transform(self.eval_protocol)
        self._class_names: list[str] | None = None
        # the loaded weights' protocol and name (follow_weights), none until told
        self._weights: tuple[EvalProtocol | None, str] = (None, "")

    @property
    def declared_num_classes(self) -> int | None:
        return self._declared_num_classes

    @property
    def class_names(self) -> list[str]:
        """Class folder names in label order, as the source gives them (the file tree's
        folders, or the names a shard manifest recorded), checked against a declared
        ``num_classes``."""
        if self._class_names is None:
            self._class_names = self.source.class_names(self)
        return self._class_names

    def tree_class_names(self) -> list[str]:
        self.prepare_data()
        names = find_classes(self.root)
        declared = self._declared_num_classes
        if declared is not None and declared != len(names):
            raise ValueError(
                f"data.num_classes={declared} but '{self.root / 'train'}' has "
                f"{len(names)} class folders; fix data.num_classes or data.root"
            )
        return names

    @property
    def num_classes(self) -> int:
        """The declared count when given (no disk access), else the number of class folders."""
        if self._declared_num_classes is not None:
            return self._declared_num_classes
        return len(self.class_names)

    def prepare_tree(self) -> None:
        """Generate the toy set where one is wanted (:func:`~src.data.toy.wants_toy`) and
        ``root`` does not hold a complete one."""
        if wants_toy(self.root, self.toy, self.toy_root) and not has_complete_toy(self.root):
            make_toy_imagenet(self.root)

    def list_items(self, split: str) -> list[tuple[str, int]]:
        return list_samples(self.root, split, self.class_names)

    def make_dataset(
        self, items: Sequence[tuple[str, int]], transform: A.Compose
    ) -> ImageFolderDataset:
        return ImageFolderDataset(items, transform, self.on_corrupt)

    def setup(self, stage: str | None = None) -> None:
        """Open the splits ``stage`` needs (a file tree's layout is checked here)."""
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self.split_set("train", self.train_transform, train=True)
        if self.val_set is None:
            self.eval_protocol = resolve_eval_protocol(
                self._eval_settings, *self._weights, default=self._default_protocol
            )
            log.info("ImageNet evaluation transform: %s", self.eval_protocol.describe())
            transform = protocol_transform(self.eval_protocol)
            self.val_set = self.split_set("val", transform, train=False)

    def follow_weights(self, protocol: EvalProtocol | None, weights_name: str) -> None:
        self._weights = (protocol, weights_name)

    def collate(self, train: bool) -> CollateSamples:
        return CollateSamples(segmentation=False)
