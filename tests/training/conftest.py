"""The toy presets' own runs, trained once per test session (per test worker) and shared by the
tests of what a finished run holds and does: each run's tests live in one module
(tests/training/test_toy_cls_run.py, test_toy_seg_run.py), which is what keeps them on one
worker. Tests treat these run directories as read-only; one that edits a run's files edits a
copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import QUIET, Run, run_entry_point

# Only a hang should stop a preset run: minutes on 2 idle cores, several times that on a busy
# machine (the toy_cls run has passed the runner's default of 10 minutes on a loaded one).
PRESET_RUN_TIMEOUT_S = 1800


def _preset_run(experiment: str, data_root: Path, folder: Path) -> Run:
    """``python src/train.py experiment=<experiment>`` on the session's toy data, as is."""
    overrides = [f"experiment={experiment}", f"data.root={data_root}", QUIET]
    return run_entry_point("src/train.py", overrides, folder / "run", timeout=PRESET_RUN_TIMEOUT_S)


@pytest.fixture(scope="session")
def toy_cls_run(toy_imagenet_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _preset_run("toy_cls", toy_imagenet_root, tmp_path_factory.mktemp("toy_cls"))


@pytest.fixture(scope="session")
def toy_seg_run(toy_ade20k_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _preset_run("toy_seg", toy_ade20k_root, tmp_path_factory.mktemp("toy_seg"))
