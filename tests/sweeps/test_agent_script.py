"""scripts/sweep_agent.sh splits a node's GPUs between agents (dry run: no wandb agent starts)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

AGENT_SCRIPT = REPO_ROOT / "scripts" / "sweep_agent.sh"
AGENT_LINE = re.compile(r"agent (\d+): CUDA_VISIBLE_DEVICES=(\S*) PATH=\S+ (.*)")


def dry_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(AGENT_SCRIPT), *args, "--python", sys.executable, "--dry-run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def agents(stdout: str) -> list[tuple[str, str]]:
    """(CUDA_VISIBLE_DEVICES, command) per agent line, in order."""
    return [(m[2], m[3]) for m in AGENT_LINE.finditer(stdout)]


@pytest.mark.parametrize("script", ["scripts/sweep_agent.sh", "scripts/slurm/sweep_agents.sbatch"])
def test_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(REPO_ROOT / script)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, result.stderr


def test_five_gpus_two_per_run_make_two_agents_and_leave_one_idle() -> None:
    result = dry_run(
        "ent/proj/abc123",
        "--gpus-per-run",
        "2",
        "--count",
        "3",
        env={"CUDA_VISIBLE_DEVICES": "0,1,2,3,4"},
    )
    assert result.returncode == 0, result.stderr
    lines = agents(result.stdout)
    assert [devices for devices, _ in lines] == ["0,1", "2,3"]
    assert all(
        cmd == f"{sys.executable} -m wandb agent --count 3 ent/proj/abc123" for _, cmd in lines
    )
    assert "1 GPU(s) left idle" in result.stderr


def test_gpus_come_from_nvidia_smi_when_none_are_pinned(fake_nvidia_smi: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    result = subprocess.run(
        ["bash", str(AGENT_SCRIPT), "ent/proj/abc", "--python", sys.executable, "--dry-run"],
        env={**env, "PATH": f"{fake_nvidia_smi}:{env['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [devices for devices, _ in agents(result.stdout)] == ["0", "1"]


@pytest.mark.parametrize(
    ("args", "visible", "message"),
    [
        (["abc", "--gpus-per-run", "4"], "0,1", "fewer than --gpus-per-run 4"),
        (["abc", "--gpus-per-run", "0"], "0,1", "--gpus-per-run must be a positive integer"),
        ([], "0", "SWEEP_ID is missing"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(
    args: list[str], visible: str, message: str
) -> None:
    result = dry_run(*args, env={"CUDA_VISIBLE_DEVICES": visible})
    assert result.returncode == 2 and message in result.stderr
