"""A run with the network made to fail prints nothing about fetching anything. (Restoring from a
checkpoint offline is checked on the toy_seg run, in tests/training/test_toy_seg_run.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import offline_env, run_entry_point, small_cls_run

pytestmark = pytest.mark.slow


def test_a_training_run_prints_no_warning_about_fetching_anything(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    """Dependencies that check for updates at import (albumentations asks PyPI) are told not
    to: offline, such a check prints a warning into every run. A fresh interpreter (the
    environment differs in what is read at import), so the imports happen in this run."""
    overrides = [*small_cls_run(2), f"data.root={small_toy_imagenet_root}"]
    run = run_entry_point("src/train.py", overrides, tmp_path / "run", env=offline_env(tmp_path))
    for phrase in ("fetch", "check for updates", "urlopen", "new version"):
        assert phrase not in run.output.lower(), run.output[-3000:]
