"""A callback that records which processes train, so a test can count them per job."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lightning import Callback, LightningModule, Trainer


class ProcessRecorder(Callback):
    """Writes ``<marker_dir>/<pid>.json`` (rank, world size, run dir) when fitting starts."""

    def __init__(self, marker_dir: str) -> None:
        self.marker_dir = Path(marker_dir)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.marker_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "run_dir": str(Path(trainer.default_root_dir).resolve()),
        }
        (self.marker_dir / f"{os.getpid()}.json").write_text(json.dumps(record))
