"""A run forked from the suite's warm server is the run a user gets from ``python src/train.py``.

The same short training run, started once as a fork (tests/runner/server.py) and once in a
fresh interpreter, must end alike: exit code, the files of its run directory, every logged metric
to the last digit (same seed, same CPU kernels and thread count), the final table, the log
messages and everything written to stderr (a warning or message printed while the server
imported would be missing from the fork's output).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import Run, run_entry_point, small_cls_run
from tests.runner.client import FORKED, FRESH

FINAL_TABLE = "final metrics"  # the title of the table a training run ends with
LOG_PREFIX = re.compile(r"^\[[^\]]*\]")  # a log record's timestamp


def _files(run_dir: Path) -> list[str]:
    return sorted(str(path.relative_to(run_dir)) for path in run_dir.rglob("*"))


def _comparable(run: Run) -> dict[str, str | list[str]]:
    """What a run printed, less what differs between any two runs: timestamps, progress
    rates, the run directory's own name."""
    stdout, stderr = (text.replace(str(run.run_dir), "<run>") for text in (run.stdout, run.stderr))
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
    metrics = Path("csv") / "metrics.csv"
    assert (forked.run_dir / metrics).read_text() == (fresh.run_dir / metrics).read_text()
    assert _comparable(forked) == _comparable(fresh)
