"""The cluster launchers run the command they should: srun / torchrun around src/train.py with
the run dir pinned, ckpt_path=last, the node and GPU counts, and overrides Hydra accepts; the
conversion job runs scripts.make_shards with a worker per CPU of the job."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from src.data.shard_format import MANIFEST
from src.utils.config_validation import validate_config
from tests.composition import compose_train
from tests.helpers import REPO_ROOT

SBATCH = REPO_ROOT / "scripts" / "slurm" / "train.sbatch"
SHARDS_SBATCH = REPO_ROOT / "scripts" / "slurm" / "make_shards.sbatch"
TORCHRUN = REPO_ROOT / "scripts" / "torchrun.sh"


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH entry whose ``srun`` and ``torchrun`` print RUN_DIR and their arguments."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("srun", "torchrun"):
        fake = folder / name
        fake.write_text('#!/bin/sh\necho "RUN_DIR=$RUN_DIR"\nprintf "%s\\n" "$@"\n')
        fake.chmod(0o755)
    return folder


def _run(script: Path, args: list[str], fake_bin: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "RUN_DIR"}
    environment.update(PATH=f"{fake_bin}:{os.environ['PATH']}", **env)
    return subprocess.run(
        ["bash", str(script), *args], env=environment, capture_output=True, text=True
    )


def _train_overrides(lines: list[str]) -> list[str]:
    return lines[lines.index("src/train.py") + 1 :]


@pytest.mark.parametrize("script", [SBATCH, SHARDS_SBATCH, TORCHRUN])
def test_scripts_parse(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert os.access(script, os.X_OK)


def test_sbatch_requeues_on_sigusr1_and_resumes_in_the_job_run_dir(
    fake_bin: Path, tmp_path: Path
) -> None:
    directives = [line for line in SBATCH.read_text().splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --signal=SIGUSR1@90" in directives and "#SBATCH --requeue" in directives
    process = _run(
        SBATCH,
        ["experiment=resnest_cls", "data.root=/data/imagenet"],
        fake_bin,
        SLURM_SUBMIT_DIR=str(REPO_ROOT),
        SLURM_JOB_ID="4242",
        SLURM_JOB_NUM_NODES="2",
        SLURM_NTASKS_PER_NODE="8",
    )
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0] == f"RUN_DIR={REPO_ROOT}/logs/train/slurm/4242"
    assert lines[1:3] == ["python", "src/train.py"]
    overrides = _train_overrides(lines)
    assert overrides == [
        "trainer=ddp",
        "trainer.num_nodes=2",
        "trainer.devices=8",
        "ckpt_path=last",
        "experiment=resnest_cls",
        "data.root=/data/imagenet",
    ]
    cfg = compose_train(overrides, tmp_path)
    validate_config(cfg)
    assert (cfg.trainer.num_nodes, cfg.trainer.devices, cfg.ckpt_path) == (2, 8, "last")


def test_torchrun_pins_one_run_dir_and_needs_it_given_on_several_nodes(fake_bin: Path) -> None:
    process = _run(TORCHRUN, ["4", "experiment=toy_cls", "trainer=gpu"], fake_bin)
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0].startswith(f"RUN_DIR={REPO_ROOT}/logs/train/torchrun/")
    assert "--nproc-per-node=4" in lines and "--nnodes=1" in lines
    assert _train_overrides(lines) == [  # the overrides' trainer preset replaces trainer=ddp
        "trainer.num_nodes=1",
        "trainer.devices=4",
        "ckpt_path=last",
        "experiment=toy_cls",
        "trainer=gpu",
    ]
    refused = _run(TORCHRUN, ["4"], fake_bin, NNODES="2")
    assert refused.returncode == 2 and "set RUN_DIR" in refused.stderr
    shared = _run(TORCHRUN, ["4"], fake_bin, NNODES="2", RUN_DIR="/shared/run1")
    assert shared.stdout.splitlines()[0] == "RUN_DIR=/shared/run1"


@pytest.mark.slow
def test_the_conversion_job_converts_with_a_worker_per_cpu(
    fake_bin: Path, tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    out = tmp_path / "shards"
    args = ["data=toy_imagenet", f"data.root={small_toy_imagenet_root}", f"out={out}"]
    job = {"SLURM_SUBMIT_DIR": str(REPO_ROOT), "SLURM_CPUS_PER_TASK": "2"}
    process = _run(SHARDS_SBATCH, args, fake_bin, **job)
    assert process.returncode == 0, process.stderr
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["options"]["workers"] == 2 and manifest["splits"]["train"]["written"] == 64
    outside = _run(SHARDS_SBATCH, args, fake_bin)
    assert outside.returncode != 0 and "submit with sbatch" in outside.stderr
