"""A checkpoint writer that also records which process wrote each file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from src.utils.checkpoint_io import AtomicCheckpointIO


class RecordingCheckpointIO(AtomicCheckpointIO):
    """Leaves an empty ``<marker_dir>/rank<R>-<n>-<file name>`` for every checkpoint written."""

    def __init__(self, marker_dir: str) -> None:
        super().__init__()
        self.marker_dir = Path(marker_dir)
        self._count = 0

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        self.marker_dir.mkdir(parents=True, exist_ok=True)
        (self.marker_dir / f"rank{rank}-{self._count}-{Path(path).name}").touch()
        self._count += 1
        super().save_checkpoint(checkpoint, path, storage_options)
