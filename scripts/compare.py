"""Compare runs: the config keys that differ, epochs, steps, wall time, final and best metrics,
and one metric's curves overlaid in one plot. Reads run folders only, never writes into them, so
it works on finished, stopped, resumed and still-running runs.

    python -m scripts.compare logs/train/multiruns/<id>            # every job of a multirun
    python -m scripts.compare logs/sweeps/radix_cardinality --metric val/acc1 --metric val/loss
    python -m scripts.compare 'logs/train/runs/2026-12-0*' --markdown table.md --csv table.csv

Each argument is a run directory, a folder with runs below it (a sweep's, a multirun's) or a
glob of either. The plot (``--plot``, compare.png) shows the first ``--metric`` (by default the
first run's ``optimized_metric``). Best is the highest value, or the lowest for a loss and for
an ``optimized_metric`` with ``optimized_mode: min``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as a file, not as the module scripts.compare: the root on sys.path
    import project_root  # noqa: F401  (scripts/project_root.py)

import matplotlib.pyplot as plt

from src.reporting.compare import comparison_table, draw_curves, optimized, table_csv
from src.reporting.run_folder import find_runs, read_run
from src.utils.table import Table, print_table


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories, folders of runs, or globs")
    parser.add_argument(
        "--metric",
        action="append",
        help="a metric of metrics.csv (repeatable; default: the runs' optimized_metric)",
    )
    parser.add_argument("--plot", type=Path, default=Path("compare.png"), help="the plot's file")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    runs = [read_run(path) for path in find_runs(args.runs)]
    metrics = args.metric or [optimized(runs)[0]]
    table = comparison_table(runs, metrics)
    print_table(table)
    outputs = (("Markdown", args.markdown, Table.to_markdown), ("CSV", args.csv, table_csv))
    for label, path, render in outputs:
        if path:
            path.write_text(render(table))
            print(f"{label}: {path}")
    figure = draw_curves(runs, metrics[0])
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=100)
    plt.close(figure)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
