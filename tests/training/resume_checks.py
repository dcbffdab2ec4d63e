"""Runs stopped at a known step, and what a resumed run must share with the same run never
interrupted: every logged row, the weights, the optimiser's state and the LR schedule."""

from __future__ import annotations

import csv
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from src.callbacks.time_account import METRIC_PREFIX
from tests.helpers import REPO_ROOT, command, environment
from tests.runner.client import ServedProcess, start_entry_point
from tests.training.stall_at_step import STALLED


def start_stalled(
    step: int, overrides: list[str], run_dir: Path | None
) -> tuple[ServedProcess | subprocess.Popen, list[str]]:
    """``src/train.py`` with ``overrides`` (which add tests.training.stall_at_step's callback),
    started and read until it stalls before step ``step + 1``; the process and its output so
    far (the rest is still in ``process.stdout``)."""
    return start_until(STALLED, [*overrides, f"+callbacks.stall.step={step}"], run_dir)


def start_until(
    marker: str, overrides: list[str], run_dir: Path | None
) -> tuple[ServedProcess | subprocess.Popen, list[str]]:
    """``src/train.py`` started and read until it prints ``marker``: the process and its output
    so far (the rest is still in ``process.stdout``)."""
    process = start_entry_point(command("src/train.py", overrides), environment(run_dir), REPO_ROOT)
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return process, lines
    process.wait()
    raise AssertionError(f"the run ended before '{marker}':\n" + "".join(lines[-50:]))


def file_hashes(run_dir: Path) -> dict[str, str]:
    """Every file below ``run_dir`` by relative path, with a hash of its bytes."""
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file()
    }


def rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))


def last_checkpoint(run_dir: Path) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def assert_same_history(expected_dir: Path, actual_dir: Path) -> None:
    """Every row the uninterrupted run logged, once each, in order, with the same values (the
    time account's, wall-clock seconds, only present in the same rows)."""
    expected, actual = rows(expected_dir), rows(actual_dir)
    assert [row["step"] for row in actual] == [row["step"] for row in expected]
    for mine, theirs in zip(actual, expected, strict=True):
        assert {k for k, v in mine.items() if v} == {k for k, v in theirs.items() if v}
        for key, value in theirs.items():
            if value and not key.startswith(METRIC_PREFIX):
                assert float(mine[key]) == pytest.approx(float(value), abs=1e-6), key


def assert_same_weights(expected_dir: Path, actual_dir: Path, steps: int) -> None:
    """Both ``last.ckpt`` after ``steps`` steps, with the same weights, momentum buffers and
    LR schedule state."""
    expected, actual = last_checkpoint(expected_dir), last_checkpoint(actual_dir)
    assert actual["global_step"] == expected["global_step"] == steps
    assert expected["state_dict"].keys() == actual["state_dict"].keys()
    for name, tensor in expected["state_dict"].items():
        torch.testing.assert_close(actual["state_dict"][name], tensor, rtol=0, atol=1e-6, msg=name)
    momentum = [
        state["momentum_buffer"] for state in expected["optimizer_states"][0]["state"].values()
    ]
    resumed = [
        state["momentum_buffer"] for state in actual["optimizer_states"][0]["state"].values()
    ]
    for mine, theirs in zip(resumed, momentum, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
    assert actual["lr_schedulers"] == expected["lr_schedulers"]
