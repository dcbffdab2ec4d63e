"""Results tables for people: the metrics of a run, printed at the end."""

from __future__ import annotations

from collections.abc import Mapping

import rich
from lightning.pytorch.utilities import rank_zero_only

from src.utils.table import Table


def coverage_note(metrics: Mapping[str, float]) -> str | None:
    """What the validation figures cover, when unreadable images were skipped from them."""
    skipped = int(metrics.get("val/skipped", 0))
    if not skipped:
        return None
    return (
        f"val/* cover {int(metrics.get('val/samples', 0))} images: {skipped} unreadable "
        "images were skipped (data.on_corrupt=skip)"
    )


def metrics_table(metrics: Mapping[str, float], title: str = "Results") -> Table:
    table = Table(title=title, columns=["metric", "value"])
    for name in sorted(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    note = coverage_note(metrics)
    table.notes += [note] if note else []
    return table


@rank_zero_only
def print_metrics(metrics: Mapping[str, float], title: str = "Results") -> None:
    rich.print(metrics_table(metrics, title))
