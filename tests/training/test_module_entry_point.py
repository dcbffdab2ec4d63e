"""``python -m src.train`` and ``python -m src.eval`` (from the repository root) work like the
script form: the root bootstrap is found through the package when run as a module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, SMALL_CLS, environment, last_logged, small_cls_run

pytestmark = pytest.mark.slow


def run_module(module: str, overrides: list[str], run_dir: Path) -> subprocess.CompletedProcess:
    """``python -m <module> <overrides>`` from the repository root, into ``run_dir``."""
    result = subprocess.run(
        [sys.executable, "-m", module, *overrides],
        cwd=REPO_ROOT,
        env=environment(run_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_python_dash_m_trains_and_evaluates(tmp_path: Path, small_toy_imagenet_root: Path) -> None:
    data = f"data.root={small_toy_imagenet_root}"
    run_module("src.train", [*small_cls_run(2), data], tmp_path / "run")
    assert last_logged(tmp_path / "run", "val/acc1") >= 0.0
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    evaluate = [*SMALL_CLS, data, f"ckpt_path={checkpoint}"]
    evaluation = run_module("src.eval", evaluate, tmp_path / "eval")
    assert "val/acc1" in evaluation.stdout
