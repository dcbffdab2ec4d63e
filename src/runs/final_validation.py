"""The validation after fit: the best checkpoint's figures, logged and labelled as that checkpoint's.

Lightning logs a validation at the trainer's current epoch and step, so the best checkpoint's
figures would land in ``metrics.csv`` (and TensorBoard, W&B) on the run's last step, or on step 0
after ``ddp_fork`` / ``ddp_spawn``, whose launching process never advances: a row that reads as another
epoch's. Here the trainer takes the checkpoint's own position (its fit loop's state) before that
validation, so the row carries the epoch and step the checkpoint was written at (the fit's row
of that epoch's validation may read one step less: Lightning logs an epoch-end validation before
it counts the epoch's last step, and the checkpoint after). The metric names stay ``val/*``: the last value of the optimised metric
is the best checkpoint's, which the sweeps and W&B's run summary take as the run's result.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from src.utils.checkpoint_io import read_checkpoint

LAST_EPOCH = "last epoch"
FINAL_WEIGHTS = "final weights"  # what is validated when no ModelCheckpoint kept a best one


def validate_best_checkpoint(
    trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule
) -> tuple[str, dict[str, Any]]:
    """Validate the fit's best checkpoint (the final weights when there is none); return where
    the figures come from, as the results table heads them, and the figures."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if isinstance(callback, ModelCheckpoint) else ""
    label = FINAL_WEIGHTS
    if best:
        checkpoint = read_checkpoint(best, mmap=True)  # the loop state, not the weights
        trainer.fit_loop.load_state_dict(checkpoint["loops"]["fit_loop"])
        label = f"best checkpoint (epoch {checkpoint['epoch']}, step {checkpoint['global_step']})"
    results = trainer.validate(model, datamodule, ckpt_path=best or None, verbose=False)
    return label, results[0] if results else {}
