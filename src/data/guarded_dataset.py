"""The shared shape of the file-backed datasets: decode on access, under the corrupt-file policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
from torch.utils.data import Dataset

from src.data.collate import Sample
from src.data.corrupt import CorruptSampleGuard
from src.data.samplers import SampleKey, resolve_key


class GuardedDataset(Dataset):
    """Items (paths and labels) decoded by :meth:`load` when asked for.

    A key is an index, or a :class:`~src.data.samplers.SampleKey` that also seeds ``transform``
    for that sample (so augmentation is a function of seed, epoch and index). A corrupt item
    raises, or gives None with ``on_corrupt="skip"``, as :class:`CorruptSampleGuard` decides.
    ``fields`` names an item's parts in order (the keys of its shard record, see
    :mod:`src.data.shard_format`).
    """

    fields: tuple[str, ...] = ()

    def __init__(
        self, items: Sequence[tuple[Any, ...]], transform: A.Compose, on_corrupt: str = "error"
    ) -> None:
        self.items = list(items)
        self.transform = transform
        self._guard = CorruptSampleGuard(on_corrupt)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | SampleKey) -> Sample | None:
        return self.load_guarded(self.items[resolve_key(key, self.transform)])

    def load_guarded(self, item: tuple[Any, ...]) -> Sample | None:
        """:meth:`load` of ``item`` under the corrupt-file policy; items read from shards
        come in here too, so both formats decode, check and skip alike."""
        return self._guard(lambda: self.load(*item))

    def load(self, *item: Any) -> Sample:
        """Decode and transform one item; subclasses say how."""
        raise NotImplementedError
