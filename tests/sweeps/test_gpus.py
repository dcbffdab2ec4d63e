"""The offline engine finds GPUs as scripts/sweep_agent.sh does and splits them per worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from src.sweep.gpus import gpu_slots, visible_gpus


def test_pinned_gpus_win_and_are_split_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6,7,9")
    slots = gpu_slots(per_trial=2, workers=2)
    assert [slots.get_nowait() for _ in range(2)] == ["3,5", "6,7"]


def test_without_pinning_nvidia_smi_lists_whole_gpus_only(
    fake_nvidia_smi: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", f"{fake_nvidia_smi}{os.pathsep}{os.environ['PATH']}")
    assert visible_gpus() == ["0", "1"]


def test_too_few_gpus_name_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match="--gpus-per-trial 1 needs 1 GPUs; found 0"):
        gpu_slots(per_trial=1, workers=1)
