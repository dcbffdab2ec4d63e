"""The toy presets end to end: the README's first command, timed as a user runs it.

Each preset runs ``python src/train.py experiment=<preset>`` in a child process (its own run
directory under a temporary folder, W&B offline) and reports its wall time and the validation
metric it ends with, beside what its preset file promises. Tests check that the presets learn;
how long they take is a measurement of this machine, so it lives here.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from src.utils.table import Table, fmt

REPO_ROOT = Path(__file__).resolve().parents[2]
# the metric each toy preset is judged by, and the bound that the preset's learning test
# (tests/training/test_toy_<task>_run.py) holds its final value to: far above chance, and at least 0.03 below the worst run measured
# over seeds, CPU kernel paths and thread counts (python -m scripts.preset_spread; the range
# is in each preset's comment)
PRESET_TARGETS = {"toy_cls": ("val/acc1", 0.76), "toy_seg": ("val/miou", 0.42)}


def last_logged(run_dir: Path, metric: str) -> float | None:
    """The last value of ``metric`` in a run's ``csv/metrics.csv``."""
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        values = [row[metric] for row in csv.DictReader(file) if row.get(metric)]
    return float(values[-1]) if values else None


def run_preset(
    experiment: str,
    overrides: Sequence[str],
    run_dir: Path,
    env: Mapping[str, str] | None = None,
) -> float:
    """Wall seconds of one ``src/train.py`` run of ``experiment`` into ``run_dir``, with
    ``env`` added to the environment."""
    env = {**os.environ, "RUN_DIR": str(run_dir), "WANDB_MODE": "offline", **(env or {})}
    command = [sys.executable, str(REPO_ROOT / "src" / "train.py"), f"experiment={experiment}"]
    start = time.perf_counter()
    subprocess.run(
        [*command, "extras.print_config=false", *overrides],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def presets_section(experiments: Sequence[str], overrides: Sequence[str] = ()) -> list[Table]:
    """One row per toy preset: wall time, final metric and the bound the tests hold it to."""
    table = Table(
        "Toy presets end to end (python src/train.py experiment=<preset>)",
        ["preset", "wall s", "metric", "final", "test bound"],
    )
    if overrides:
        table.notes.append(f"overrides: {' '.join(overrides)}")
    with tempfile.TemporaryDirectory(prefix="bench_presets_") as folder:
        for experiment in experiments:
            metric, bound = PRESET_TARGETS[experiment]
            run_dir = Path(folder) / experiment
            seconds = run_preset(experiment, overrides, run_dir)
            final = last_logged(run_dir, metric)
            table.add_row(experiment, fmt(seconds, 1), metric, fmt(final, 3), f">= {bound}")
    return [table]
