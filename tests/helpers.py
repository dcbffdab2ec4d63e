"""Running the real entry points the way a user does, writing only under a given directory."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"


@dataclass
class Run:
    """A finished entry-point process: its output and run directory."""

    output: str
    run_dir: Path


def run_entry_point(
    script: str, overrides: list[str], run_dir: Path, timeout: float = 600, env: dict | None = None
) -> Run:
    """``python src/<script> <overrides>`` with the run directory pinned to ``run_dir``."""
    environment = {**os.environ, "RUN_DIR": str(run_dir), "WANDB_MODE": "offline", **(env or {})}
    process = subprocess.run(
        [sys.executable, str(REPO_ROOT / "src" / script), *overrides],
        cwd=run_dir.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = process.stdout + process.stderr
    assert process.returncode == 0, f"{script} {' '.join(overrides)} failed:\n{output[-6000:]}"
    return Run(output=output, run_dir=run_dir)


def last_logged(run_dir: Path, metric: str) -> float:
    """The last value of ``metric`` in the run's CSV log."""
    import csv

    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    values = [float(row[metric]) for row in rows if row.get(metric)]
    assert values, f"{metric} was never logged in {run_dir}"
    return values[-1]
