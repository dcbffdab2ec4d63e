"""What every dataset's datamodule shares: the settings common to all, and the loaders.

A dataset module (:mod:`src.data.imagenet`, :mod:`src.data.ade20k`) declares its own typed
``__init__`` (the ``data.*`` keys it accepts, checked by config validation against that
signature), lists its files in ``setup`` and says how its batches are collated; the batch
sizes, workers, pinned memory, samplers and the train / val / test loaders live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning import LightningDataModule
from torch.utils.data import DataLoader

from src.data.collate import CollateSamples
from src.data.corrupt import check_on_corrupt
from src.data.eval_protocol import EvalProtocol
from src.data.guarded_dataset import GuardedDataset
from src.data.loaders import ResumableTrainData, make_loader


class TrainValDataModule(ResumableTrainData, LightningDataModule):
    """A training split and a validation split of file-backed samples, under ``root``.

    Subclasses fill ``train_set`` (for ``fit``) and ``val_set`` in ``setup`` and implement
    :meth:`collate`. ``batch_size`` is per process and ``val_batch_size`` is the evaluation
    loaders'. The test loader is the validation split: neither ImageNet's nor ADE20K's test
    labels are public. ``seed`` fixes the training order and augmentation of every epoch (see
    :mod:`src.data.samplers`); ``mean``/``std`` normalise images (and un-normalise them for
    visualisation); ``toy`` / ``toy_root`` say where a missing toy set may be generated (see
    :func:`~src.data.toy.wants_toy`).
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
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.seed = seed
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.num_workers = num_workers
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.on_corrupt = check_on_corrupt(on_corrupt)
        self.toy = toy
        self.toy_root = toy_root
        self.train_set: GuardedDataset | None = None
        self.val_set: GuardedDataset | None = None

    def follow_weights(self, protocol: EvalProtocol | None, weights_name: str) -> None:
        """What the model's loaded weights say about evaluating them (their protocol, and a name
        for them in messages), handed over by the entry point before the data is set up; the
        data config's explicit settings still win. A dataset without such a protocol ignores it."""

    def collate(self, train: bool) -> CollateSamples:
        """How the training (``train``) or evaluation loader batches samples; subclasses say."""
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self.resumable(self._loader(self.train_set, self.batch_size, train=True))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.val_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def _loader(self, dataset: GuardedDataset | None, batch_size: int, train: bool) -> DataLoader:
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
