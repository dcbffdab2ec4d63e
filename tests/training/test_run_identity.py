"""Run identity: a directory per run even for runs started together, a record of each start,
and ``resume=`` refusing what would change the run or names no run."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import pytest
import yaml

from src.pipeline import resolve_ckpt_path
from src.runs.identity import new_run_id
from tests.helpers import REPO_ROOT, command, environment, run_entry_point, small_cls_run
from tests.runner.client import start_entry_point

pytestmark = pytest.mark.slow


def _tiny(root: Path, logs: Path) -> list[str]:
    return [
        *small_cls_run(2),
        f"data.root={root}",
        f"paths.log_dir={logs}",
    ]


def test_run_ids_drawn_in_the_same_second_differ() -> None:
    ids = [new_run_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_[0-9a-f]{8}", ids[0])


def test_two_runs_started_together_get_their_own_directories(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    logs = tmp_path / "logs"
    processes = [
        start_entry_point(
            command("src/train.py", [*_tiny(small_toy_imagenet_root, logs), f"seed={seed}"]),
            environment(None),
            REPO_ROOT,
        )
        for seed in (1, 2)
    ]
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]
    run_dirs = sorted((logs / "train" / "runs").iterdir())
    assert len(run_dirs) == 2
    seeds = {yaml.safe_load((d / "config_resolved.yaml").read_text())["seed"] for d in run_dirs}
    assert seeds == {1, 2}
    for run_dir in run_dirs:
        rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
        assert len([row for row in rows if row["val/acc1"]]) == 1  # its own epoch, once
        record = yaml.safe_load((run_dir / "run.yaml").read_text())
        assert record["id"] == run_dir.name and len(record["starts"]) == 1
        assert "train.py" in record["starts"][0]["command"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path) -> Path:
    logs = tmp_path_factory.mktemp("finished") / "logs"
    run_entry_point("src/train.py", _tiny(small_toy_imagenet_root, logs), None)
    (run_dir,) = (logs / "train" / "runs").iterdir()
    return run_dir


def test_resume_refuses_overrides_that_change_what_is_trained(finished_run: Path) -> None:
    logs = f"paths.log_dir={finished_run.parents[2]}"
    output = run_entry_point(
        "src/train.py",
        [f"resume={finished_run.name}", logs, "model.lr=0.5", "seed=7"],
        None,
        succeed=False,
    ).output
    text = " ".join(output.split())
    assert f"resuming run {finished_run} with a config that changes what it trains" in text
    assert "model.lr: 0.2 -> 0.5" in text and "seed: 42 -> 7" in text  # toy_cls: lr 0.2
    assert len(yaml.safe_load((finished_run / "run.yaml").read_text())["starts"]) == 1


def test_resume_names_the_recent_runs_when_the_id_is_unknown(finished_run: Path) -> None:
    logs = f"paths.log_dir={finished_run.parents[2]}"
    output = run_entry_point(
        "src/train.py", ["resume=no-such-run", logs], None, succeed=False
    ).output
    assert "resume=no-such-run: no run directory of that name or id" in output
    assert f"Recent runs: runs/{finished_run.name}" in output


def test_ckpt_path_last_without_a_checkpoint_warns_and_names_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="src.pipeline"):
        assert resolve_ckpt_path("last", str(tmp_path)) is None
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "resume=<run dir | run id | latest>" in record.getMessage()
