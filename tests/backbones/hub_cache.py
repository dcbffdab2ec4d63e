"""A Hugging Face Hub cache of the test's own, laid out as ``huggingface_hub`` writes it, so that
``hf-hub:`` and ``pretrained=true`` find weights there with the Hub client running for real,
offline (``HF_HUB_OFFLINE=1``, see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import save_file

from src.models.backbones.variants import HF_FILE
from src.models.backbones.weights_sources import WEIGHTS_DIR_ENV

SNAPSHOT = "0" * 40


def use_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hub cache (and torch hub folder) under ``tmp_path``, and no weights folder from
    the environment; the cache's path."""
    cache = tmp_path / "hf"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch_hub"))
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)
    return cache


def put_in_hub_cache(cache: Path, repo_id: str, tensors: dict[str, torch.Tensor]) -> Path:
    """``model.safetensors`` of ``repo_id`` in a Hub cache, as ``hf_hub_download`` leaves it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / SNAPSHOT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)
    save_file({k: v.contiguous() for k, v in tensors.items()}, snapshot / HF_FILE)
    return snapshot / HF_FILE
