"""Session-wide fixtures, and the plugins that run the suite (tests/runner/).

Fixtures: toy datasets generated once per test session and shared, the toy presets' own sets
and small ones of the same look for runs of a few batches, their shards (tests/shard_folders.py),
and an S3-compatible server. Tests must treat these trees as read-only; tests that need a broken
layout build their own.

Plugins: tests/runner/scheduling.py spreads the suite over pytest-xdist workers,
tests/runner/plugin.py keeps each worker's entry-point runs forks of its warm server and counts
them (``RESNEST_TEST_ENTRY_POINTS=fresh`` turns the server off; docs/testing.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.data.toy import make_toy_ade20k, make_toy_imagenet

pytest_plugins = ["tests.runner.scheduling", "tests.runner.plugin", "tests.shard_folders"]

# Nothing is downloaded in tests: the Hugging Face Hub client only reads its cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def toy_imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy presets' ImageNet root (train/ and val/; 8 classes, 400 + 25 images each, 64 px):
    for what needs the whole set, such as the toy_cls preset learning."""
    return make_toy_imagenet(tmp_path_factory.mktemp("toy_imagenet"))


@pytest.fixture(scope="session")
def small_toy_imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy ImageNet root of the same 8 classes with 8 + 4 images each: for runs of a few
    batches (two of 32, six of 8), which would never read the rest of the full set."""
    root = tmp_path_factory.mktemp("small_toy_imagenet")
    return make_toy_imagenet(root, train_per_class=8, val_per_class=4)


@pytest.fixture(scope="session")
def toy_ade20k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that contains the toy presets' ADEChallengeData2016 (96 train / 24 val, 96x128 px)."""
    root = tmp_path_factory.mktemp("toy_ade20k")
    make_toy_ade20k(root)
    return root


@pytest.fixture(scope="session")
def small_toy_ade20k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that contains a toy ADEChallengeData2016 of 16 train / 8 val images, 96x128 px."""
    root = tmp_path_factory.mktemp("small_toy_ade20k")
    make_toy_ade20k(root, num_train=16, num_val=8)
    return root


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on 127.0.0.1 with an empty test bucket (tests/object_storage.py):
    its endpoint URL, shared by a test worker's tests."""
    from tests.object_storage import s3_server  # moto, imported only where a test needs it

    with s3_server() as endpoint:
        yield endpoint
