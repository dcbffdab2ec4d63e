"""The ``data.on_corrupt`` policy: what a dataset does with a file it cannot decode.

At ImageNet scale a handful of bad files is normal. "error" (the default) stops with a
message naming the file, so nothing is silently dropped from a benchmark; "skip" drops the
sample, logs each bad file once per process (each DataLoader worker is a process), and the
collate function reports how many samples each batch lost in ``batch["num_skipped"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from src.data.image_io import CorruptSampleError

log = logging.getLogger(__name__)

ON_CORRUPT_CHOICES: tuple[str, ...] = ("error", "skip")

T = TypeVar("T")


def check_on_corrupt(value: str, key: str = "data.on_corrupt") -> str:
    """Return ``value`` if it is a valid setting of ``key``, else raise."""
    if value not in ON_CORRUPT_CHOICES:
        raise ValueError(f"{key}={value!r} is not supported; use one of {list(ON_CORRUPT_CHOICES)}")
    return value


class CorruptSampleGuard:
    """Runs sample loads under one dataset's ``on_corrupt`` policy."""

    def __init__(self, on_corrupt: str) -> None:
        self.on_corrupt = check_on_corrupt(on_corrupt)
        self._reported: set[str] = set()

    def __call__(self, load: Callable[[], T]) -> T | None:
        """Return ``load()``, or None for a corrupt sample when skipping."""
        try:
            return load()
        except CorruptSampleError as err:
            if self.on_corrupt == "error":
                raise
            if err.path not in self._reported:
                self._reported.add(err.path)
                log.warning("Skipping corrupt sample '%s': %s", err.path, err.reason)
            return None
