"""DataLoader construction shared by the datamodules.

Each process loads only its share of the data (see :mod:`src.data.samplers`), so
``batch_size`` is per process. Training loaders are seeded, shuffled, drop the last partial
batch and can resume mid-epoch; evaluation loaders go in order and count every sample once.
"""

from __future__ import annotations

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
    Persistent workers need workers.
    """
    rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
    options = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "pin_memory": pin_memory and torch.cuda.is_available(),
        "persistent_workers": persistent_workers and num_workers > 0,
        "collate_fn": collate,
    }
    if train and not (trainer and trainer.overfit_batches):
        sampler = ShuffleShardSampler(dataset, seed, num_replicas=world_size, rank=rank)
        return ResumableDataLoader(dataset, sampler=sampler, drop_last=True, **options)
    sampler = InOrderShardSampler(dataset, num_replicas=world_size, rank=rank)
    return DataLoader(dataset, sampler=sampler, **options)
