"""A run forked from the suite's warm server is the run a user gets from ``python src/train.py``.

The same short training run, started once as a fork (tests/runner/server.py) and once in a
fresh interpreter, must end alike: exit code, the files of its run directory, every logged metric
to the last digit but the time account's wall-clock seconds (same seed, kernels and threads), the final table, the log
messages and everything written to stderr (a warning or message printed while the server
imported would be missing from the fork's output).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from src.callbacks.time_account import METRIC_PREFIX
from tests.helpers import Run, run_entry_point, small_cls_run
from tests.runner.client import FORKED, FRESH

FINAL_TABLE = "final metrics"  # the title of the table a training run ends with
LOG_PREFIX = re.compile(r"^\[[^\]]*\]")  # a log record's timestamp


def _files(run_dir: Path) -> list[str]:
    return sorted(str(path.relative_to(run_dir)) for path in run_dir.rglob("*"))


def _metrics(run: Run) -> list[dict[str, str]]:
    """metrics.csv's rows less the time account's wall-clock seconds (their columns stay)."""
    with (run.run_dir / "csv" / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    return [{k: ("s" if k.startswith(METRIC_PREFIX) else v) for k, v in r.items()} for r in rows]


def _comparable(run: Run) -> dict[str, str | list[str]]:
    """What a run printed, less what differs between any two runs: timestamps, progress
    rates, the run directory's own name, the time account's seconds."""
    stdout, stderr = (text.replace(str(run.run_dir), "<run>") for text in (run.stdout, run.stderr))
    stdout = "\n".join(line for line in stdout.splitlines() if METRIC_PREFIX not in line)
    logged = [LOG_PREFIX.sub("", line) for line in stdout.splitlines() if LOG_PREFIX.match(line)]
    return {
        "log messages": logged,
        "final table": stdout[stdout.index(FINAL_TABLE) :],
        "stderr": stderr,
    }


@pytest.mark.slow
def test_a_forked_run_ends_as_the_same_run_in_a_fresh_interpreter(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    overrides = [*small_cls_run(2), "test=true", f"data.root={small_toy_imagenet_root}"]
    runs = {
        how: run_entry_point("src/train.py", overrides, tmp_path / how, how=how)  # exit code 0
        for how in (FORKED, FRESH)
    }
    forked, fresh = runs[FORKED], runs[FRESH]
    assert _files(forked.run_dir) == _files(fresh.run_dir)
    assert _metrics(forked) == _metrics(fresh)
    assert _comparable(forked) == _comparable(fresh)
