"""Each validation's metrics as one JSON line, for a process that watches the run from outside.

The offline sweep engine (``scripts/sweep.py``) adds this callback to every trial and reads the
file as it grows: the per-epoch metric feeds its Hyperband pruner, and the last line (the
validation of the best checkpoint) is the trial's result, as W&B takes the last logged value.
"""

from __future__ import annotations

import json
from pathlib import Path

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only


class EpochMetricsFile(Callback):
    """Appends ``{"stage", "epoch", "step", "metrics"}`` to ``path`` after every validation."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Runs once the epoch's metrics are computed and published (the epoch-end hook is
        too early for them)."""
        if trainer.sanity_checking:
            return
        metrics = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if value.numel() == 1
        }
        line = {
            "stage": trainer.state.fn.value if trainer.state.fn else None,
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "metrics": metrics,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(json.dumps(line) + "\n")
