"""Shard folders of the session's small toy sets, made once per test worker and shared.

Tests read them and never write into them; a test that needs broken or different shards makes
its own with :func:`shards_of`. Registered as a plugin in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.make_shards import main as make_shards


def shards_of(data: str, tree: Path, out: Path) -> Path:
    """``tree`` (a file tree of data preset ``data``) converted into shards at ``out``/``data``."""
    make_shards([f"data={data}", f"data.root={tree}", f"out={out / data}"])
    return out / data


@pytest.fixture(scope="session")
def small_imagenet_shards(
    tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path
) -> Path:
    """The small toy ImageNet (8 classes x 8 train / 4 val) as shards."""
    return shards_of("toy_imagenet", small_toy_imagenet_root, tmp_path_factory.mktemp("shards"))


@pytest.fixture(scope="session")
def small_ade20k_shards(
    tmp_path_factory: pytest.TempPathFactory, small_toy_ade20k_root: Path
) -> Path:
    """The small toy ADE20K (16 train / 8 val) as shards."""
    return shards_of("toy_ade20k", small_toy_ade20k_root, tmp_path_factory.mktemp("shards"))
