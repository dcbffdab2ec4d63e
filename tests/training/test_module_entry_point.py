"""``python -m src.train`` and ``python -m src.eval`` (from the repository root) work like the
script form: the root bootstrap is found through the package when run as a module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, SMALL_CLS, environment, last_logged, small_cls_run

pytestmark = pytest.mark.slow


def test_python_dash_m_trains_and_evaluates(tmp_path: Path, small_toy_imagenet_root: Path) -> None:
    data = f"data.root={small_toy_imagenet_root}"
    train = subprocess.run(
        [sys.executable, "-m", "src.train", *small_cls_run(2), data],
        cwd=REPO_ROOT,
        env=environment(tmp_path / "run"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert last_logged(tmp_path / "run", "val/acc1") >= 0.0
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    evaluate = subprocess.run(
        [sys.executable, "-m", "src.eval", *SMALL_CLS, data, f"ckpt_path={checkpoint}"],
        cwd=REPO_ROOT,
        env=environment(tmp_path / "eval"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "val/acc1" in evaluate.stdout
