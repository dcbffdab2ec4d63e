"""Requeue of a SLURM job started by submitit: at SLURM's pre-timeout signal the run finishes its
step, checkpoints it into the job's run directory, asks SLURM to requeue the job (the cluster
environment asks for requeues) and exits 128 + SIGUSR1; the requeued job resumes from that
checkpoint.

One task of a job with the variables SLURM and submitit set (no SLURM here): a callback sends
SIGUSR1 (what ``--signal=USR1@90`` delivers) after step 2, and a fake ``scontrol`` records its
arguments and stops the task with SIGTERM, as SLURM does to a job it requeues.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import torch

from src.runs.stop_signals import exit_code
from tests.helpers import command, environment, small_cls_run

pytestmark = pytest.mark.slow

ONE_TASK_JOB = {
    "SUBMITIT_EXECUTOR": "slurm",
    "SLURM_JOB_ID": "4242",
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_JOB_NUM_NODES": "1",
    "SLURM_NNODES": "1",
    "SLURM_JOB_NODELIST": "gpu01",
    "SLURM_NODEID": "0",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
}


def test_the_pre_timeout_signal_checkpoints_the_run_dir_and_requeues_the_job(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    fake_bin, calls = tmp_path / "bin", tmp_path / "scontrol_calls"
    fake_bin.mkdir()
    scontrol = fake_bin / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nkill -TERM $PPID\n')
    scontrol.chmod(0o755)
    run_dir = tmp_path / "run"
    env = environment(run_dir)
    for name in [name for name in env if name.startswith(("SLURM_", "SUBMITIT_"))]:
        del env[name]
    env.update(ONE_TASK_JOB, PATH=f"{fake_bin}:{env['PATH']}")
    overrides = [
        *small_cls_run(3),
        f"data.root={small_toy_imagenet_root}",
        "+callbacks.signal_at_step._target_=tests.distributed.signal_at_step.SignalAtStep",
        "+callbacks.signal_at_step.step=2",
    ]
    process = subprocess.run(
        command("src/train.py", overrides), env=env, capture_output=True, text=True, timeout=300
    )
    assert calls.read_text().split() == ["requeue", "4242"], process.stderr[-6000:]
    assert process.returncode == exit_code(signal.SIGUSR1), process.stderr[-6000:]
    stopped = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert stopped["global_step"] == 2  # the step it was at, mid-epoch

    # the requeued job: the same command in the same run dir, with ckpt_path=last
    rerun = subprocess.run(
        command("src/train.py", [*overrides[:-2], "ckpt_path=last"]),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-6000:]
    assert f"Resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in rerun.stdout + rerun.stderr
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == 3
