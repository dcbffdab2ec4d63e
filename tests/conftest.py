"""Session-wide fixtures: toy datasets generated once per test session and shared.

Tests must treat these trees as read-only; tests that need a broken layout build their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from src.data.toy import make_toy_ade20k, make_toy_imagenet

# Nothing is downloaded in tests: the Hugging Face Hub client only reads its cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def toy_imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Toy ImageNet root (train/ and val/; 8 classes, 48 + 16 images each, 64 px)."""
    return make_toy_imagenet(tmp_path_factory.mktemp("toy_imagenet"))


@pytest.fixture(scope="session")
def toy_ade20k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that contains a toy ADEChallengeData2016 (96 train / 24 val, 96x128 px)."""
    root = tmp_path_factory.mktemp("toy_ade20k")
    make_toy_ade20k(root)
    return root
