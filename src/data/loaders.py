"""DataLoader construction shared by the datamodules.

Loaders are plain (no sampler): under DDP Lightning swaps in a DistributedSampler, which
keeps ``shuffle`` and splits the data across processes, so ``batch_size`` is per process.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from src.data.collate import CollateSamples


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    train: bool,
    num_workers: int,
    pin_memory: bool,
    persistent_workers: bool,
    collate: CollateSamples,
) -> DataLoader:
    """A training (shuffled, last partial batch dropped) or evaluation (in order) loader.

    Pinned memory only helps copies to a GPU, so it is requested only when CUDA is present
    (otherwise PyTorch warns on every loader). Persistent workers need workers.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train,
        num_workers=num_workers,
        pin_memory=pin_memory and torch.cuda.is_available(),
        persistent_workers=persistent_workers and num_workers > 0,
        collate_fn=collate,
    )
