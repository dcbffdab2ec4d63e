"""Logged history that survives a resume: each metric row once, in order.

A checkpoint records how many rows ``metrics.csv`` held when it was written (after writing out
the rows still buffered) and the step it was taken at. Resuming from it cuts the rows a killed
process logged after that point, and tells TensorBoard to hide its events from that step on:
the resumed run logs those steps again. Rows and events from before the checkpoint are kept.
"""

from __future__ import annotations

from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from src.runs.history_loggers import HistoryCSVLogger, HistoryTensorBoardLogger

STATE_KEY = "log_history"


class LogHistory(Callback):
    """Stores the log position in every checkpoint; cuts the logs back to it on restore."""

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        csv_rows = [
            logger.experiment.rows_written()
            for logger in trainer.loggers
            if isinstance(logger, HistoryCSVLogger)
        ]
        checkpoint[STATE_KEY] = {"step": trainer.global_step, "csv_rows": csv_rows}

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        position = checkpoint.get(STATE_KEY)
        # only a resumed fit logs those steps again (not validating a checkpoint, say)
        if position is None or trainer.state.fn != TrainerFn.FITTING or trainer.global_rank != 0:
            return
        csv_loggers = [logger for logger in trainer.loggers if isinstance(logger, HistoryCSVLogger)]
        for logger, rows in zip(csv_loggers, position["csv_rows"], strict=False):
            logger.experiment.cut_after(rows, position["step"])
        for logger in trainer.loggers:
            if isinstance(logger, HistoryTensorBoardLogger):
                logger.purge_from(position["step"])
