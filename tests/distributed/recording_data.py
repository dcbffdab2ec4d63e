"""An ImageNet datamodule that notes every file its datasets decode, per process and split, so
that a test can check which samples each rank of a real run saw."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import torch

from src.data.collate import Sample
from src.data.imagenet import ImageFolderDataset, ImageNetDataModule


class RecordingImageFolder(ImageFolderDataset):
    """Appends the path of each decoded file to ``<record_dir>/<split>-rank<R>.txt``."""

    def __init__(
        self, items: Sequence[tuple[Any, int]], transform: A.Compose, record: Path
    ) -> None:
        super().__init__(items, transform)
        self.record = record

    def load(self, path: Any, label: int) -> Sample:
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        with (self.record.parent / f"{self.record.name}-rank{rank}.txt").open("a") as notes:
            notes.write(f"{path}\n")
        return super().load(path, label)


class RecordingImageNetDataModule(ImageNetDataModule):
    """:class:`ImageNetDataModule` whose datasets record what they decode in ``record_dir``."""

    def __init__(self, *args: Any, record_dir: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_dir = Path(record_dir)
        self.record_dir.mkdir(parents=True, exist_ok=True)

    def make_dataset(
        self, items: Sequence[tuple[str, int]], transform: A.Compose
    ) -> ImageFolderDataset:
        split = "train" if transform is self.train_transform else "val"
        return RecordingImageFolder(items, transform, self.record_dir / split)
