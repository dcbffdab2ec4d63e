"""What every dataset's datamodule shares: the settings common to all, and the loaders.

A dataset module (:mod:`src.data.imagenet`, :mod:`src.data.ade20k`) declares its own typed
``__init__`` (the ``data.*`` keys it accepts, checked by config validation against that
signature), says how its files are listed and decoded and how its batches are collated; the
batch sizes, workers, pinned memory, samplers and the train / val / test loaders live here
once. Where the samples come from, a file tree or shards made from it (``data.format``), is the
datamodule's :attr:`~TrainValDataModule.source` (:mod:`src.data.sources`), which it asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from src.data.collate import CollateSamples
from src.data.corrupt import check_on_corrupt
from src.data.eval_protocol import EvalProtocol
from src.data.guarded_dataset import GuardedDataset
from src.data.loaders import ResumableTrainData, make_loader
from src.data.shard_format import Unreadable
from src.data.sources import data_source
from src.data.transforms import normalize_batch


class TrainValDataModule(ResumableTrainData, LightningDataModule):
    """A training split and a validation split, read from the source that ``format`` and
    ``root`` name: the file tree at ``root``, or the shard folder at ``root`` made from one (a
    local folder or ``s3://bucket/prefix``; see :class:`~src.data.shard_reader.ShardLocation`
    for ``cache_dir``, ``cache_size`` and ``storage_options``).

    Subclasses fill ``train_set`` (for ``fit``) and ``val_set`` in ``setup`` with
    :meth:`split_set`, and implement :meth:`list_items`, :meth:`make_dataset` and
    :meth:`collate`. ``batch_size`` is per process and ``val_batch_size`` is the evaluation
    loaders'. The test loader is the validation split: neither ImageNet's nor ADE20K's test
    labels are public. ``seed`` fixes the training order and augmentation of every epoch (see
    :mod:`src.data.samplers`); ``mean``/``std`` normalise images (and un-normalise them for
    visualisation); ``toy`` / ``toy_root`` say where a missing toy set may be generated (see
    :func:`~src.data.toy.wants_toy`). With ``normalize_on_device`` the training loader ships
    uint8 pixels and the batch is normalised after it reaches the device
    (:meth:`on_after_batch_transfer`): loader workers then do less and move a quarter of the
    bytes (docs/benchmarks.md, loader section), and the values differ from a worker's by at most
    a float32 rounding.
    """

    def __init__(
        self,
        root: str,
        *,
        batch_size: int,
        val_batch_size: int,
        num_workers: int,
        mean: Sequence[float],
        std: Sequence[float],
        pin_memory: bool,
        persistent_workers: bool,
        on_corrupt: str,
        toy: bool,
        toy_root: str | None,
        seed: int,
        format: str,
        cache_dir: str | None,
        cache_size: str | None,
        storage_options: Mapping[str, Any] | None,
        normalize_on_device: bool,
    ) -> None:
        super().__init__()
        self.source = data_source(
            format,
            root,
            cache_dir=cache_dir,
            cache_size=cache_size,
            storage_options=storage_options,
        )
        self.root = Path(root)  # the file tree's, where the dataset module lists its files
        self.seed = seed
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.num_workers = num_workers
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)
        self.pin_memory = pin_memory
        self.normalize_on_device = normalize_on_device
        self.persistent_workers = persistent_workers
        self.on_corrupt = check_on_corrupt(on_corrupt)
        self.toy = toy
        self.toy_root = toy_root
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    # what a dataset module says about its data set, which its source reads it with
    kind: str = ""  # the data set's name in a shard manifest ("imagenet", "ade20k")

    @property
    def declared_num_classes(self) -> int | None:
        """``data.num_classes`` (None: as many as the data has), checked against shards."""
        raise NotImplementedError

    def prepare_tree(self) -> None:
        """What a file tree needs before it is read (a toy set generated); nothing by default."""

    def tree_class_names(self) -> list[str]:
        """The class names as the file tree gives them, for a data set whose names it holds."""
        raise NotImplementedError

    def list_items(self, split: str) -> list[tuple[Any, ...]]:
        """The items of ``split`` in the file tree, in listing order; the layout is checked."""
        raise NotImplementedError

    def list_split(self, split: str) -> tuple[list[tuple[Any, ...]], list[Unreadable]]:
        """The items of ``split`` and the listed files that cannot form one (a converter
        reports them); by default every listed file forms an item."""
        return self.list_items(split), []

    def make_dataset(
        self, items: Sequence[tuple[Any, ...]], transform: A.Compose
    ) -> GuardedDataset:
        """The file-tree dataset of ``items``; over shards it decodes their records."""
        raise NotImplementedError

    # what the datamodule asks its source
    def prepare_data(self) -> None:
        """Once, before the data is read: what the source needs (a file tree, ``prepare_tree``)."""
        self.source.prepare(self)

    def split_set(self, split: str, transform: A.Compose, train: bool) -> Dataset:
        """``split`` from the source, decoded and transformed alike from files or shards."""
        return self.source.open_split(self, split, transform, train)

    def split_length(self, split: str, dataset: Dataset) -> int:
        """How many samples ``split`` (opened as ``dataset``) holds in all: a streamed split's
        own length is one process's share."""
        return self.source.split_size(self, split, dataset)

    def follow_weights(self, protocol: EvalProtocol | None, weights_name: str) -> None:
        """What the model's loaded weights say about evaluating them (their protocol, and a name
        for them in messages), handed over by the entry point before the data is set up; the
        data config's explicit settings still win. A dataset without such a protocol ignores it."""

    def collate(self, train: bool) -> CollateSamples:
        """How the training (``train``) or evaluation loader batches samples; subclasses say."""
        raise NotImplementedError

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Normalise a batch of uint8 images (``normalize_on_device``) where it arrived."""
        if batch["image"].dtype == torch.uint8:
            batch["image"] = normalize_batch(batch["image"], self.mean, self.std)
        return batch

    def train_dataloader(self) -> DataLoader:
        return self.resumable(self._loader(self.train_set, self.batch_size, train=True))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.val_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def _loader(self, dataset: Dataset | None, batch_size: int, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a loader")
        return make_loader(
            dataset,
            batch_size=batch_size,
            train=train,
            seed=self.seed,
            trainer=self.trainer,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate=self.collate(train),
        )
