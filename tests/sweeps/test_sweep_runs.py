"""The command a W&B agent would run for each sweep file trains one fast_dev_run step on toy data.

The command is built from the file by wandb's own builder (through ``build_command``), with one
draw of the file's parameters; ``debug=fdr`` and the toy data root are appended as overrides.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src.sweep.spec import build_command, load_sweep
from tests.helpers import REPO_ROOT
from tests.sweeps.sweep_files import SWEEP_FILES, drawn_values

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_agent_command_runs_one_fast_dev_run_step(
    path: Path, toy_imagenet_root: Path, tmp_path: Path
) -> None:
    spec = load_sweep(path)
    (values,) = drawn_values(spec, 1)
    argv = build_command(
        spec,
        values,
        sys.executable,
        ["debug=fdr", f"data.root={toy_imagenet_root}", "extras.print_config=false"],
    )
    env = {**os.environ, "WANDB_MODE": "offline", "RUN_DIR": str(tmp_path / "run")}
    result = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(argv)}\n{output[-5000:]}"
    assert spec.metric in output  # the final metrics table of the run
    used = OmegaConf.load(tmp_path / "run" / "config_resolved.yaml")
    assert {name: OmegaConf.select(used, name) for name in values} == values
