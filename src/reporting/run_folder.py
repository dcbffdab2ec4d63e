"""One run directory as a report sees it: its config, its metric history, how far it got.

Everything here only reads: a run may still be training (its ``metrics.csv`` growing, the last
line perhaps half written) or may have been stopped and resumed (``metrics.csv`` then holds every
row once: src/callbacks/log_history.py), and a report must never change its files.
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from src.runs.identity import read_run_record

RUN_CONFIG = "config_resolved.yaml"  # what marks a folder as a run directory
METRICS_CSV = Path("csv") / "metrics.csv"
TRAIN = "train/"  # the prefix of the training loop's metrics


@dataclass
class RunFolder:
    """A run directory's config (flattened to dotted keys), its per-epoch metric curves and its
    starts (``run.yaml``)."""

    path: Path
    config: dict[str, Any]
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    steps: int | None = None
    epochs_done: int = 0
    starts: list[datetime] = field(default_factory=list)
    last_write: datetime | None = None

    @property
    def max_epochs(self) -> int | None:
        return self.config.get("trainer.max_epochs")

    @property
    def wall_s(self) -> float | None:
        """Seconds from the first start to the last write of ``metrics.csv``; for a resumed run
        this includes the time between its stop and its resume."""
        if not self.starts or self.last_write is None:
            return None
        return (self.last_write - self.starts[0]).total_seconds()

    def final(self, metric: str) -> float | None:
        """The metric at the last epoch that logged it."""
        points = self.curves.get(metric)
        return points[-1][1] if points else None

    def best(self, metric: str, mode: str) -> float | None:
        """The best value over the epochs (``mode``: ``max`` or ``min``)."""
        points = self.curves.get(metric)
        if not points:
            return None
        values = [value for _, value in points]
        return max(values) if mode == "max" else min(values)


def read_run(path: Path) -> RunFolder:
    """The run at ``path`` (a directory holding ``config_resolved.yaml``)."""
    config = flatten(yaml.safe_load((path / RUN_CONFIG).read_text()) or {})
    run = RunFolder(path=path, config=config)
    rows = read_metric_rows(path / METRICS_CSV)
    run.curves = epoch_curves(rows)
    run.steps = steps_taken(rows)
    epochs = [int(float(row["epoch"])) for row in rows if row.get("epoch")]
    run.epochs_done = max(epochs) + 1 if epochs else 0
    record = read_run_record(path)
    run.starts = [datetime.fromisoformat(start["time"]) for start in record.get("starts", [])]
    if (path / METRICS_CSV).is_file():
        run.last_write = datetime.fromtimestamp((path / METRICS_CSV).stat().st_mtime)
    return run


def read_metric_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of a ``metrics.csv`` (none when there is no file yet); a last line
    without its newline is being written and is left out."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [dict(row) for row in csv.DictReader(lines)]


def steps_taken(rows: Iterable[Mapping[str, str]]) -> int | None:
    """The optimiser steps of the training rows (which carry the 0-based index of their step;
    the validation of the best checkpoint after the fit carries the count instead)."""
    steps = [
        int(float(row["step"]))
        for row in rows
        if row.get("step") and any(value and name.startswith(TRAIN) for name, value in row.items())
    ]
    return max(steps) + 1 if steps else None


def epoch_curves(rows: Iterable[Mapping[str, str]]) -> dict[str, list[tuple[int, float]]]:
    """Each epoch-level metric as ``(epoch, value)`` in epoch order, one value per epoch.

    Validation metrics are logged once per epoch; the validation of the best checkpoint that
    ends a run is logged again at that checkpoint's epoch, after the last epoch's row: the first
    value of each epoch is kept, so the curve is the fit's. Step-level figures (``*_step``) and
    the ``epoch``/``step`` columns are not curves.
    """
    curves: dict[str, dict[int, float]] = {}
    for row in rows:
        if not row.get("epoch"):
            continue
        epoch = int(float(row["epoch"]))
        for name, value in row.items():
            if name in ("epoch", "step") or not value or name.endswith("_step"):
                continue
            try:
                curves.setdefault(name, {}).setdefault(epoch, float(value))
            except ValueError:
                continue  # a cell of a line cut short
    return {name: sorted(points.items()) for name, points in curves.items()}


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"model.backbone.radix": 2, ...}``; lists stay whole values."""
    if not isinstance(node, Mapping) or not node:
        return {prefix: node} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def find_runs(patterns: Iterable[str]) -> list[Path]:
    """The run directories named by ``patterns``: run directories, folders holding runs at any
    depth (a sweep's, a multirun's, ``logs/train/runs``), or globs of either; in path order,
    each once. A pattern that names no run is an error that names it."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).exists() else [])
        runs = [run for match in matches for run in _runs_below(Path(match))]
        if not runs:
            raise FileNotFoundError(
                f"{pattern}: no run directory (a folder with {RUN_CONFIG}) there or below it"
            )
        found.update(dict.fromkeys(run.resolve() for run in runs))
    return list(found)


def _runs_below(path: Path) -> list[Path]:
    """``path`` if it is a run, else the runs below it that are not inside another run."""
    if (path / RUN_CONFIG).is_file():
        return [path]
    if not path.is_dir():
        return []
    runs = sorted(config.parent for config in path.rglob(RUN_CONFIG))
    return [run for run in runs if not any(other in run.parents for other in runs)]
