"""The W&B run of a sweep run: the agent's own run, and exactly one of it under DDP."""

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


def test_two_process_ddp_makes_one_offline_run(
    small_toy_imagenet_root: Path, tmp_path: Path
) -> None:
    run_entry_point(
        "src/train.py",
        [
            "experiment=toy_cls",
            "trainer=ddp_cpu",
            "logger=wandb",
            f"data.root={small_toy_imagenet_root}",
            *short_run(1),
            "callbacks=none",
        ],
        tmp_path / "run",
        cwd=tmp_path,
    )
    runs = list(tmp_path.rglob("run-*.wandb"))  # the run dir and the working directory
    assert len(runs) == 1, runs
    config, history = run_contents(runs[0])
    assert config["hydra_choices"]["trainer"] == "ddp_cpu"
    assert any("val/acc1" in row for row in history)  # logged from the spawned rank zero
