"""The W&B run of a sweep run: the agent's own run (one W&B run under DDP:
tests/distributed/test_ddp.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_entry_point, short_run
from tests.training.wandb_records import run_contents

pytestmark = pytest.mark.slow


def test_a_command_agents_run_is_reused_and_gets_its_own_directory(
    small_toy_imagenet_root: Path, tmp_path: Path
) -> None:
    """What `wandb agent` hands a run: sweep and run ids, and the parameter file as a path
    relative to the agent's working directory (which the Hydra app must not change)."""
    param_file = Path("wandb", "sweep-sw123", "config-abcd1234.yaml")
    (tmp_path / param_file).parent.mkdir(parents=True)
    (tmp_path / param_file).write_text("model.lr:\n  value: 0.2\n")
    agent_env = {
        "WANDB_MODE": "offline",
        "WANDB_SWEEP_ID": "sw123",
        "WANDB_RUN_ID": "abcd1234",
        "WANDB_SWEEP_PARAM_PATH": str(param_file),
    }
    overrides = ["experiment=toy_cls", "logger=wandb", "hydra=sweep_run", "model.lr=0.2"]
    overrides += [*short_run(1), "callbacks=none"]
    overrides += [f"data.root={small_toy_imagenet_root}", f"paths.log_dir={tmp_path / 'logs'}"]
    run_entry_point("src/train.py", overrides, None, env=agent_env, cwd=tmp_path)

    run_dir = tmp_path / "logs" / "sweeps" / "sw123" / "abcd1234"  # configs/hydra/sweep_run.yaml
    (offline_run,) = run_dir.glob("wandb/offline-run-*-abcd1234/run-abcd1234.wandb")
    config, _ = run_contents(offline_run)
    assert config["model.lr"] == 0.2  # the sweep's parameter, as W&B records it
    assert config["config"]["model"]["lr"] == 0.2
