"""The validation after fit: the best checkpoint's figures, logged and labelled as that checkpoint's.

Lightning logs a validation at the trainer's current epoch and step, so the best checkpoint's
figures would land in ``metrics.csv`` (and TensorBoard, W&B) on the run's last step, or on step 0
after ``ddp_fork`` / ``ddp_spawn``, whose launching process never advances: a row that reads as another
epoch's. Here the trainer takes the checkpoint's own position (its fit loop's state) before that
validation, so the row carries the epoch and step the checkpoint was written at (the fit's row
of that epoch's validation may read one step less: Lightning logs an epoch-end validation before
it counts the epoch's last step, and the checkpoint after). The metric names stay ``val/*``: the last value of the optimised metric
is the best checkpoint's, which the sweeps and W&B's run summary take as the run's result.

Training is over and checkpointed when this validation starts, so a stop signal ends it at once
(:func:`final_validation`), naming the checkpoint that holds the run and how to validate it again.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from src.runs.resume import checkpoints_newest_first
from src.runs.stop_signals import RunStopped, stop_signals_end_at_once
from src.utils.checkpoint_io import read_checkpoint

log = logging.getLogger(__name__)

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


def final_validation(
    trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule
) -> tuple[str, dict[str, Any]]:
    """:func:`validate_best_checkpoint`; a stop signal ends it at once with :class:`RunStopped`,
    after a warning that says which checkpoint holds the run and how to validate it again."""
    try:
        with stop_signals_end_at_once():
            return validate_best_checkpoint(trainer, model, datamodule)
    except RunStopped as stopped:
        log.warning(
            "Run stopped by %s in the final validation; training had finished and %s",
            signal.Signals(stopped.signum).name,
            _where_the_run_is(trainer),
        )
        raise


def _where_the_run_is(trainer: L.Trainer) -> str:
    """The checkpoint that holds a finished run (the best one, else the newest), and the
    command that validates it; or, when the run directory has none, that nothing on disk does."""
    checkpoints = Path(trainer.default_root_dir) / "checkpoints"
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    newest = checkpoints_newest_first(trainer.default_root_dir)
    if not (best or newest):
        return (
            f"no checkpoint holds it: {checkpoints} has none (no checkpoint callback wrote "
            "one), so its trained weights ended with this process. To keep them, train it "
            "again with the default callbacks (model_checkpoint, last_checkpoint)"
        )
    return (
        f"{checkpoints} holds it. Validate it with: python src/eval.py "
        f"ckpt_path={best or newest[0]} (and the run's overrides)"
    )
