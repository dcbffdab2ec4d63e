"""DataLoader construction shared by the datamodules.

Each process loads only its share of the data (see :mod:`src.data.samplers`), so
``batch_size`` is per process. Training loaders are seeded, shuffled, drop the last partial
batch and can resume mid-epoch; evaluation loaders go in order and count every sample once.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from lightning import Trainer
from torch.utils.data import DataLoader, Dataset

from src.data.collate import CollateSamples
from src.data.samplers import InOrderShardSampler, ResumableDataLoader, ShuffleShardSampler


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    train: bool,
    seed: int,
    trainer: Trainer | None,
    num_workers: int,
    pin_memory: bool,
    persistent_workers: bool,
    collate: CollateSamples,
) -> DataLoader:
    """A training or evaluation loader for this process of ``trainer`` (one process if None).

    With ``trainer.overfit_batches`` Lightning rebuilds the training loader to go in order, so
    it gets a plain evaluation loader to rebuild. Pinned memory only helps copies to a GPU, so
    it is requested only when CUDA is present (otherwise PyTorch warns on every loader).
    Persistent workers need workers. A training split streamed from shards brings its own
    loader (:class:`StreamedSplit`), which orders it and splits it across processes.
    """
    rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
    options = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "pin_memory": pin_memory and torch.cuda.is_available(),
        "persistent_workers": persistent_workers and num_workers > 0,
        "collate_fn": collate,
    }
    if isinstance(dataset, StreamedSplit):
        return dataset.loader(**options)
    if train and not (trainer and trainer.overfit_batches):
        sampler = ShuffleShardSampler(dataset, seed, num_replicas=world_size, rank=rank)
        return ResumableDataLoader(dataset, sampler=sampler, drop_last=True, **options)
    sampler = InOrderShardSampler(dataset, num_replicas=world_size, rank=rank)
    return DataLoader(dataset, sampler=sampler, **options)


@runtime_checkable
class StreamedSplit(Protocol):
    """A split that orders itself and makes its own loader
    (:class:`~src.data.shard_datasets.ShardTrainSet`)."""

    def loader(self, **options: Any) -> DataLoader:
        """A loader with ``make_loader``'s options (batch size, workers, collate_fn, ...)."""
        ...


@runtime_checkable
class StatefulLoader(Protocol):
    """A training loader that can say where it is in the epoch and continue from there (this
    project's :class:`ResumableDataLoader`, litdata's ``StreamingDataLoader``)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


class ResumableTrainData:
    """Datamodule mixin: the training loader's position is saved with the datamodule's state.

    Lightning also keeps the state of a stateful training loader in its loop state, but applies
    it only to a loader created after the checkpoint is read; ``configure_optimizers`` creates
    the loader before that when it asks for ``trainer.estimated_stepping_batches`` (the task
    modules do, for their LR schedules), and the position would be lost. Datamodule state is
    restored early, and is applied here whichever of the two comes first.
    """

    _train_loader: StatefulLoader | None = None
    _train_loader_state: dict[str, Any] | None = None

    def resumable(self, loader: DataLoader) -> DataLoader:
        """Register ``loader``, the one ``train_dataloader`` returns, for saving and resuming."""
        if isinstance(loader, StatefulLoader):
            self._train_loader = loader
            if self._train_loader_state is not None:
                loader.load_state_dict(self._train_loader_state)
                self._train_loader_state = None
        return loader

    def state_dict(self) -> dict[str, Any]:
        return {"train_loader": self._train_loader.state_dict()} if self._train_loader else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict.get("train_loader")
        if state is not None and self._train_loader is not None:
            self._train_loader.load_state_dict(state)
        else:
            self._train_loader_state = state
