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
    return sources_table({"value": metrics}, title)


def sources_table(sources: Mapping[str, Mapping[str, float]], title: str) -> Table:
    """One column per source of figures (the last epoch, the best checkpoint), headed by where
    they come from, and one row per metric; a source without figures gets no column."""
    sources = {label: metrics for label, metrics in sources.items() if metrics}
    table = Table(title=title, columns=["metric", *sources])
    for name in sorted({name for metrics in sources.values() for name in metrics}):
        cells = (f"{metrics[name]:.4f}" if name in metrics else "—" for metrics in sources.values())
        table.add_row(name, *cells)
    for label, metrics in sources.items():
        note = coverage_note(metrics)
        table.notes += [f"{label}: {note}" if len(sources) > 1 else note] if note else []
    return table


@rank_zero_only
def print_metrics(metrics: Mapping[str, float], title: str = "Results") -> None:
    rich.print(metrics_table(metrics, title))


@rank_zero_only
def print_sources(sources: Mapping[str, Mapping[str, float]], title: str) -> None:
    rich.print(sources_table(sources, title))
