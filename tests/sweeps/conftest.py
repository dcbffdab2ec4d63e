"""A stand-in ``nvidia-smi`` for the GPU-splitting tests (no GPU needed)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def fake_nvidia_smi(tmp_path: Path) -> Path:
    """A folder to put first on PATH whose ``nvidia-smi -L`` lists GPUs 0 and 1 and a MIG slice."""
    folder = tmp_path / "fake_bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        "echo 'GPU 0: NVIDIA H200 (UUID: GPU-a)'\n"
        "echo '  MIG 1g.18gb Device 0: (UUID: MIG-b)'\n"
        "echo 'GPU 1: NVIDIA H200 (UUID: GPU-c)'\n"
    )
    script.chmod(0o755)
    return folder
