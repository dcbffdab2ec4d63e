"""Who a run is: its id, its directory, and the record of every start kept in that directory.

A run's directory is named by an id that is unique even for runs started in the same second on
one machine (a timestamp for people, random hex for uniqueness): a run never writes into another
run's folder. The id is drawn once per composed config by the ``run_id`` resolver; like Hydra's
own ``now``, its value is cached in the config, so every job of a multirun (and every process that
receives the config) sees the same one. Processes that re-run the command line (Lightning's DDP
launcher) are handed the resolved run directory itself.

``run.yaml`` in the run directory records the id, the task, the W&B run id once W&B logs, and
one entry per start (time, host, command line, Hydra overrides), so a resumed or requeued run keeps its history.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

RUN_RECORD = "run.yaml"
RUNS_FOLDER = "runs"


def new_run_id() -> str:
    """``<date>_<time>_<8 hex>``: sortable by start time, unique among simultaneous starts
    (32 random bits: two ids of the same second collide with odds of 1 in 4 billion)."""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(4)}"


def register_resolvers() -> None:
    """Make ``${run_id:}`` available to configs (idempotent; call before Hydra composes)."""
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", new_run_id, use_cache=True)


def run_id_of(run_dir: str | Path, task_dir: str | Path) -> str:
    """The id that names ``run_dir`` for ``resume=``: its path below ``<task dir>/runs`` (a
    plain run), else below the task dir (``multiruns/<id>/<job>``, ``slurm/<job id>``), else
    the absolute path (a directory pinned elsewhere with ``RUN_DIR``)."""
    run_dir, task_dir = Path(run_dir).resolve(), Path(task_dir).resolve()
    for base in (task_dir / RUNS_FOLDER, task_dir):
        if run_dir.is_relative_to(base):
            return str(run_dir.relative_to(base))
    return str(run_dir)


def read_run_record(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``run.yaml`` (empty when the directory has none yet)."""
    path = Path(run_dir) / RUN_RECORD
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write-then-rename, so a kill mid-write never leaves half a record."""
    run_dir.mkdir(parents=True, exist_ok=True)
    temporary = run_dir / f".{RUN_RECORD}.{os.getpid()}.tmp"
    temporary.write_text(yaml.safe_dump(record, sort_keys=False))
    os.replace(temporary, run_dir / RUN_RECORD)


@rank_zero_only
def record_start(run_dir: str | Path, task_dir: str | Path, task: str) -> dict[str, Any]:
    """Add this start (time, host, command line) to ``run.yaml``; the first start sets the id."""
    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    record.setdefault("id", run_id_of(run_dir, task_dir))
    record.setdefault("task", task)
    start = {
        "time": datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "command": shlex.join([Path(sys.orig_argv[0]).name, *sys.orig_argv[1:]]),
    }
    if HydraConfig.initialized():  # the job's own overrides (a multirun job's, not the sweep's)
        start["overrides"] = list(HydraConfig.get().overrides.task)
    record["starts"] = [*record.get("starts", []), start]
    _write_run_record(run_dir, record)
    return record


@rank_zero_only
def record_wandb_run_id(run_dir: str | Path, wandb_run_id: str) -> None:
    """Remember the W&B run id, so a resumed or requeued run continues the same W&B run."""
    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    if record.get("wandb_run_id") != wandb_run_id:
        _write_run_record(run_dir, {**record, "wandb_run_id": wandb_run_id})
