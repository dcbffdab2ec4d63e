"""Session-wide fixtures: toy datasets generated once per test session and shared, the toy
presets' own sets and small ones of the same look for runs of a few batches.

Tests must treat these trees as read-only; tests that need a broken layout build their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from src.data.toy import make_toy_ade20k, make_toy_imagenet
from tests.entry_points import RUNS

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How the entry-point runs of ``run_entry_point`` were started (tests/entry_points.py)."""
    if any(RUNS.values()):
        counts = ", ".join(f"{count} {how}" for how, count in RUNS.items())
        terminalreporter.write_line(f"entry-point runs: {counts}")
