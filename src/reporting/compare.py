"""Runs side by side: the config keys that set them apart, how far each got, its final and best
metrics, and one metric's curves overlaid (``python -m scripts.compare``)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from src.reporting.run_folder import RunFolder  # noqa: E402
from src.utils.table import Table, fmt  # noqa: E402

RUN_DIR_MARK = "<run dir>"  # what a run's own directory reads as, in values that name it
# Keys that differ between any two runs without setting them apart
IGNORED_PREFIXES = ("paths.", "hydra.")


def differing_keys(runs: Sequence[RunFolder]) -> list[str]:
    """The config keys whose values are not the same in every run (a key one run lacks
    included), ignoring where each run writes: paths that name the run's own directory."""
    keys = sorted({key for run in runs for key in run.config})
    return [
        key
        for key in keys
        if not key.startswith(IGNORED_PREFIXES)
        and len({_shown_value(run, key) for run in runs}) > 1
    ]


def _shown_value(run: RunFolder, key: str) -> str:
    if key not in run.config:
        return "—"
    return str(run.config[key]).replace(str(run.path), RUN_DIR_MARK)


def run_names(runs: Sequence[RunFolder]) -> list[str]:
    """Each run's path below the folder that holds all of them (its own name if alone)."""
    if len(runs) == 1:
        return [runs[0].path.name]
    common = Path(os.path.commonpath([run.path for run in runs]))
    return [str(run.path.relative_to(common)) for run in runs]


def comparison_table(runs: Sequence[RunFolder], metrics: Sequence[str]) -> Table:
    """One row per run: the differing config keys, epochs (done / planned), steps taken, wall
    time, and each metric's final and best value (:func:`best_mode`)."""
    optimized_metric, optimized_mode = optimized(runs)
    keys = differing_keys(runs)
    metric_columns = [f"{label} {metric}" for metric in metrics for label in ("final", "best")]
    table = Table(
        title=f"{len(runs)} runs",
        columns=["run", *keys, "epochs", "steps", "wall (min)", *metric_columns],
        text_columns={"run", *keys},
    )
    for name, run in zip(run_names(runs), runs, strict=True):
        figures = [
            fmt(value, 4)
            for metric in metrics
            for value in (
                run.final(metric),
                run.best(metric, best_mode(metric, optimized_metric, optimized_mode)),
            )
        ]
        table.add_row(
            name,
            *(_shown_value(run, key) for key in keys),
            f"{run.epochs_done}/{run.max_epochs if run.max_epochs is not None else '?'}",
            "—" if run.steps is None else str(run.steps),
            fmt(None if run.wall_s is None else run.wall_s / 60, 1),
            *figures,
        )
    if not keys:
        table.notes.append("the runs' configs are the same (paths aside)")
    table.notes.append(
        "wall: first start to the last metrics.csv write (a resumed run's includes its pause)"
    )
    return table


def table_csv(table: Table) -> str:
    """The table's cells as CSV, for a spreadsheet or a paper's table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buffer.getvalue()


def draw_curves(runs: Sequence[RunFolder], metric: str) -> Figure:
    """``metric`` over the epochs, one line per run, on one axis."""
    figure, axis = plt.subplots(figsize=(7, 4))
    drawn, keys = 0, differing_keys(runs)
    for name, run in zip(run_names(runs), runs, strict=True):
        points = run.curves.get(metric)
        if points:
            epochs, values = zip(*points, strict=True)
            axis.plot(epochs, values, marker="o", label=_label(name, run, keys))
            drawn += 1
    if not drawn:
        plt.close(figure)
        raise ValueError(f"no run logged {metric!r}; name another with --metric")
    axis.set_title(metric)
    axis.set_xlabel("epoch")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    return figure


def _label(name: str, run: RunFolder, keys: Sequence[str]) -> str:
    """The run's name and its values of (up to three of) the keys that differ."""
    settings = ", ".join(f"{key.rsplit('.', 1)[-1]}={_shown_value(run, key)}" for key in keys[:3])
    return f"{name} ({settings})" if settings else name


def best_mode(metric: str, optimized_metric: str, optimized_mode: str) -> str:
    """``max`` or ``min``: the run's ``optimized_mode`` for its ``optimized_metric``, ``min``
    for a loss, ``max`` for the rest (accuracies, IoUs)."""
    if metric == optimized_metric:
        return optimized_mode
    return "min" if "loss" in metric else "max"


def optimized(runs: Sequence[RunFolder]) -> tuple[str, str]:
    """The first run's ``optimized_metric`` and ``optimized_mode`` (``val/acc1``, ``max``
    when it has none)."""
    config: dict[str, Any] = runs[0].config
    return config.get("optimized_metric") or "val/acc1", config.get("optimized_mode") or "max"
