"""Datasets over a shard folder (``data.format=shards``): litdata streams the chunks, this
project's datasets decode and transform the records exactly as they decode files.

Training streams: litdata shuffles chunks and samples within a window of chunks (seeded by
``data.seed`` and the epoch), gives every process an equal share, and its loader's state is
the mid-epoch position (saved with the datamodule's state, see
:class:`src.data.loaders.ResumableTrainData`). The order is therefore litdata's, not the file
tree's; each sample's augmentation seed is the file tree's, a function of (seed, epoch, the
sample's index in the file listing) recorded in its record (:func:`src.data.samplers.epoch_plan`).

Evaluation reads by index, in the order of the shards, with the evaluation samplers of
:mod:`src.data.samplers`, so that under DDP every validation sample is counted exactly once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from litdata import StreamingDataLoader, StreamingDataset
from torch.utils.data import Dataset

from src.data.collate import CollateSamples, Sample
from src.data.guarded_dataset import GuardedDataset
from src.data.samplers import SampleKey, check_same_processes, epoch_plan, resolve_key
from src.data.shard_format import INDEX_KEY, decode_record
from src.data.shard_reader import ShardLocation


class ShardTrainSet(StreamingDataset):
    """A training split streamed from shards, each record decoded by ``decoder`` (the file
    tree's dataset of this data set, with the training transform) after seeding that
    transform with the sample's seed of this epoch in the file tree (of ``listed`` items)."""

    def __init__(
        self, location: ShardLocation, split: str, decoder: GuardedDataset, seed: int, listed: int
    ) -> None:
        super().__init__(**location.stream(split, shuffle=True, drop_last=True, seed=seed))
        self.decoder = decoder
        self.tree_size = listed
        self._seeds: tuple[int, np.ndarray] | None = None

    def __getitem__(self, index: Any) -> Sample | None:
        record = super().__getitem__(index)
        tree_index = int(record[INDEX_KEY])
        resolve_key(
            SampleKey(tree_index, self._augmentation_seed(tree_index)), self.decoder.transform
        )
        return self.decoder.load_guarded(decode_record(record, self.decoder.fields))

    def _augmentation_seed(self, index: int) -> int:
        # litdata counts epochs from 1, the trainer (and the file tree's samplers) from 0
        epoch = self.current_epoch - 1
        if self._seeds is None or self._seeds[0] != epoch:
            self._seeds = (epoch, epoch_plan(self.seed, epoch, self.tree_size)[1])
        return int(self._seeds[1][index])

    def loader(
        self,
        *,
        batch_size: int,
        num_workers: int,
        pin_memory: bool,
        persistent_workers: bool,
        collate_fn: CollateSamples,
    ) -> ShardLoader:
        """litdata's loader over this split: its ``state_dict`` is the mid-epoch position.
        Every process gets the same number of whole batches: as with the file tree, the
        fewer than ``batch_size x processes`` samples that do not fill one are left out of
        the epoch (others each epoch, as the chunk order changes)."""
        return ShardLoader(
            self,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            collate_fn=collate_fn,
        )


class ShardLoader(StreamingDataLoader):
    """litdata's loader, resumed only on as many processes as the checkpoint's run had, as the
    file tree's loader is (litdata could re-split the rest of the epoch, but the LR schedule's
    steps per epoch would change under the run)."""

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        check_same_processes(obj["dataset"]["world_size"], self.dataset.distributed_env.world_size)
        super().load_state_dict(obj)


class ShardEvalSet(Dataset):
    """An evaluation split read from shards by index (the shards' order), decoded by
    ``decoder`` (the file tree's dataset with the evaluation transform)."""

    def __init__(
        self, location: ShardLocation, split: str, decoder: GuardedDataset, written: int
    ) -> None:
        self.stream = StreamingDataset(**location.stream(split))
        self.decoder = decoder
        self.size = written

    def __len__(self) -> int:
        # litdata's own length is this process's share under DDP; the samplers want the total
        return self.size

    def __getitem__(self, index: int) -> Sample | None:
        record = self.stream[int(index)]
        return self.decoder.load_guarded(decode_record(record, self.decoder.fields))
