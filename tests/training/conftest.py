"""The toy presets' own runs, trained once per test session (per test worker) and shared by the
tests of what a finished run holds and does: each run's tests live in one module
(tests/training/test_toy_cls_run.py, test_toy_seg_run.py), which is what keeps them on one
worker. Tests treat these run directories as read-only; one that edits a run's files edits a
copy.

toy_cls trains from local shards of its file tree, toy_seg from shards of its file tree
streamed from an S3-compatible server, so that the learning bounds are also asserted for the
shard paths (an epoch from shards takes exactly the file tree's samples
and augmentations: tests/training/test_shards_training.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import QUIET, Run, run_entry_point
from tests.object_storage import storage_options, upload
from tests.shard_folders import shards_of

# Only a hang should stop a preset run: minutes on 2 idle cores, several times that on a busy
# machine (the toy_cls run has passed the runner's default of 10 minutes on a loaded one).
PRESET_RUN_TIMEOUT_S = 1800


def _preset_run(experiment: str, data: list[str], folder: Path) -> Run:
    """``python src/train.py experiment=<experiment>`` on the session's toy data (the ``data``
    overrides say where), as is."""
    overrides = [f"experiment={experiment}", *data, QUIET]
    return run_entry_point("src/train.py", overrides, folder / "run", timeout=PRESET_RUN_TIMEOUT_S)


@pytest.fixture(scope="session")
def toy_cls_run(toy_imagenet_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("toy_cls")
    shards = shards_of("toy_imagenet", toy_imagenet_root, folder)
    return _preset_run("toy_cls", ["data.format=shards", f"data.root={shards}"], folder)


@pytest.fixture(scope="session")
def toy_seg_run(
    toy_ade20k_root: Path, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    folder = tmp_path_factory.mktemp("toy_seg")
    shards = shards_of("toy_ade20k", toy_ade20k_root, folder)
    data = [
        "data.format=shards",
        f"data.root={upload(shards, s3_endpoint, 'toy_ade20k')}",
        storage_options(s3_endpoint),
        f"data.cache_dir={folder / 'cache'}",
    ]
    return _preset_run("toy_seg", data, folder)
