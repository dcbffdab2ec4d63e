"""CSV and TensorBoard loggers that keep a run's history across resumes, requeues and DDP.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts in a folder that
has one ("Previous log files in this directory will be deleted"), so every resume erased the
rows logged before the interruption. It also only knows the columns it logged itself: a second
writer on the same file (the final validation under ``ddp_fork`` / ``ddp_spawn`` runs in new processes)
rewrote the header with its own few columns and failed on the older rows
(``dict contains fields not in fieldnames``).

Here the file is kept and its columns are read back, so new rows are appended under the union
of old and new columns. TensorBoard keeps its event files anyway; after a resume it is told to
drop the events from the steps the resumed run logs again (``purge_step``). What to cut is
decided by :class:`~src.callbacks.log_history.LogHistory` from the checkpoint resumed.
"""

from __future__ import annotations

import csv
import os

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class HistoryExperimentWriter(ExperimentWriter):
    """An ``ExperimentWriter`` that appends to an existing ``metrics.csv``."""

    def _check_log_dir_exists(self) -> None:
        """Keep what is there (the parent deletes ``metrics.csv``); read its columns."""
        self.metrics_keys = sorted(self._header())

    def _header(self) -> list[str]:
        if not os.path.isfile(self.metrics_file_path):
            return []
        with open(self.metrics_file_path, newline="") as file:
            return next(csv.reader(file), [])

    def _record_new_keys(self) -> set[str]:
        """Columns another writer added to the file since this one read it count as known."""
        self.metrics_keys = sorted(set(self.metrics_keys) | set(self._header()))
        return super()._record_new_keys()

    def rows_written(self) -> int:
        """Data rows in ``metrics.csv`` after writing out the ones still held in memory."""
        self.save()
        if not os.path.isfile(self.metrics_file_path):
            return 0
        with open(self.metrics_file_path, newline="") as file:
            return max(sum(1 for _ in csv.reader(file)) - 1, 0)

    def cut_after(self, rows: int, step: int) -> None:
        """Drop the data rows after the first ``rows`` that were logged at ``step`` or later:
        what a killed run logged after its checkpoint, which the resumed run logs again."""
        self.metrics = []
        if not os.path.isfile(self.metrics_file_path):
            return
        with open(self.metrics_file_path, newline="") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            kept = [
                row
                for index, row in enumerate(reader)
                if index < rows or int(float(row.get("step") or 0)) < step
            ]
        temporary = f"{self.metrics_file_path}.{os.getpid()}.tmp"
        with open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(temporary, self.metrics_file_path)


class HistoryCSVLogger(CSVLogger):
    """Lightning's ``CSVLogger`` writing through :class:`HistoryExperimentWriter`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> HistoryExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = HistoryExperimentWriter(log_dir=self.log_dir)
        return self._experiment


class HistoryTensorBoardLogger(TensorBoardLogger):
    """Lightning's ``TensorBoardLogger`` that can drop a killed run's events past a checkpoint."""

    def purge_from(self, step: int) -> None:
        """Reopen the event writer with ``purge_step=step``: TensorBoard then hides the events
        an earlier process wrote at ``step`` or later."""
        self._kwargs["purge_step"] = step
        if self._experiment is not None:
            self._experiment.close()
            self._experiment = None
