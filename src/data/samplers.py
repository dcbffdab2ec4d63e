"""Samplers and the training loader that make data order reproducible and resumable.

Training order and augmentation are functions of ``(seed, epoch)`` only: each epoch draws one
permutation of the dataset and one augmentation seed per sample, then every process takes its
own slice (``rank::world_size``). So a run killed mid-epoch and resumed sees exactly the batches
the uninterrupted run would have seen: :class:`ResumableDataLoader` reports how many batches it
has handed out (checkpoints store that, see :class:`src.data.loaders.ResumableTrainData`) and,
on resume, starts after them.

Evaluation is split across processes without padding, so under DDP every validation sample is
counted exactly once (the stock ``DistributedSampler`` repeats samples to even out the ranks).

Both samplers subclass ``DistributedSampler`` so that Lightning, which replaces any other
sampler with its own under DDP, keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any, NamedTuple

import albumentations as A
import numpy as np
from torch.utils.data import DataLoader, DistributedSampler

from src.data.transforms import reseed
from src.utils.config_validation import ConfigError


class SampleKey(NamedTuple):
    """A training sample's index and the seed of its augmentation in this epoch."""

    index: int
    seed: int


def resolve_key(key: int | SampleKey, transform: A.BaseCompose) -> int:
    """The dataset index of ``key``; a training key first reseeds ``transform`` for its sample.

    Evaluation samplers give plain indices: their transforms draw nothing at random.
    """
    if isinstance(key, SampleKey):
        reseed(transform, key.seed)
        return key.index
    return int(key)


def epoch_plan(seed: int, epoch: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The epoch's sample order and the augmentation seed of each dataset index."""
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(size), rng.integers(0, 2**63, size=size)


class ShuffleShardSampler(DistributedSampler):
    """Seeded per-epoch shuffle, split across processes, resumable mid-epoch.

    Each process gets ``size // world_size`` samples (the few left over are dropped that epoch,
    so every process runs the same number of steps) and yields :class:`SampleKey` items.
    :meth:`resume` makes the next pass over ``epoch`` start ``offset`` samples into this
    process's slice.
    """

    def __init__(self, dataset: Sized, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        if len(dataset) < num_replicas:
            raise ValueError(
                f"the training set has {len(dataset)} samples, fewer than the {num_replicas} "
                "processes; add data or use fewer devices (trainer.devices)"
            )
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.num_samples = len(dataset) // num_replicas
        self.total_size = self.num_samples * num_replicas
        self._resume: tuple[int, int] | None = None

    def resume(self, epoch: int, offset: int) -> None:
        """Skip the first ``offset`` samples of this process's slice of ``epoch``, once."""
        self.epoch = epoch
        self._resume = (epoch, offset)

    def resume_offset(self) -> int:
        """Where the next pass over the current epoch starts in this process's slice."""
        if self._resume is not None and self._resume[0] == self.epoch:
            return self._resume[1]
        return 0

    def __iter__(self) -> Iterator[SampleKey]:
        order, seeds = epoch_plan(self.seed, self.epoch, len(self.dataset))
        mine = order[: self.total_size][self.rank :: self.num_replicas]
        start = self.resume_offset()
        self._resume = None
        return (SampleKey(int(index), int(seeds[index])) for index in mine[start:])

    def __len__(self) -> int:
        return self.num_samples


class InOrderShardSampler(DistributedSampler):
    """Indices ``rank, rank + world_size, ...`` in order: every sample on exactly one process.

    Processes may get one sample more than others. That is safe for evaluation loops, which
    synchronise only once at the end (metrics) and at the first forward pass (DDP buffers).
    """

    def __init__(self, dataset: Sized, num_replicas: int = 1, rank: int = 0) -> None:
        if len(dataset) < num_replicas:
            raise ValueError(
                f"the evaluation set has {len(dataset)} samples, fewer than the {num_replicas} "
                "processes; every process needs at least one"
            )
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`ShuffleShardSampler` that Lightning can checkpoint.

    The state is the epoch and the number of batches handed to the training loop, counted
    here in the main process (workers and prefetching run ahead of that). Having
    ``state_dict``/``load_state_dict`` also tells Lightning that the loader can resume
    mid-epoch (it warns otherwise).
    """

    sampler: ShuffleShardSampler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epoch = self.sampler.epoch
        self._batches = 0

    def __iter__(self) -> Iterator[Any]:
        self._epoch = self.sampler.epoch
        self._batches = self.sampler.resume_offset() // self.batch_size
        for batch in super().__iter__():
            self._batches += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches": self._batches, "processes": self._processes}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Continue where the checkpoint's loader was, on as many processes as it ran on: each
        process's slice of the epoch, and so the position, follows from their number."""
        check_same_processes(state_dict.get("processes", self._processes), self._processes)
        self.sampler.resume(state_dict["epoch"], state_dict["batches"] * self.batch_size)

    @property
    def _processes(self) -> int:
        return self.sampler.num_replicas


def check_same_processes(saved: int, now: int) -> None:
    """Refuse to continue a training loader's epoch on another number of processes than the
    checkpoint's run had: each process's share of the epoch, and so the position, follows
    from their number (this holds for streamed shards as for the file tree)."""
    if saved != now:
        raise ConfigError(
            f"the checkpoint was written by a run on {saved} processes and this resume "
            f"runs on {now}: the interrupted epoch would repeat or skip samples "
            "and the LR schedule's steps would change. Resume on the same number of "
            "processes (trainer.devices x trainer.num_nodes, or the scheduler's tasks), or "
            "start a new run from its weights (model.pretrained=<checkpoint>)."
        )
