"""What a resumed run must share with the same run never interrupted: every logged row, the
weights, the optimiser's state and the LR schedule."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import torch


def rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))


def last_checkpoint(run_dir: Path) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def assert_same_history(expected_dir: Path, actual_dir: Path) -> None:
    """Every row the uninterrupted run logged, once each, in order, with the same values."""
    expected, actual = rows(expected_dir), rows(actual_dir)
    assert [row["step"] for row in actual] == [row["step"] for row in expected]
    for mine, theirs in zip(actual, expected, strict=True):
        assert {k for k, v in mine.items() if v} == {k for k, v in theirs.items() if v}
        for key, value in theirs.items():
            if value:
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
