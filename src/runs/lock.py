"""One writer per run directory: a lock held for the life of the run.

Two processes writing one run (a resume started twice, two jobs pinned to one ``RUN_DIR``)
interleave their metric rows and leave each other's checkpoints behind. The run's main process
(rank zero) holds an OS lock on ``<run dir>/run.lock`` (``filelock``: ``flock(2)``, which the
kernel releases when the holder dies, SIGKILL included) and describes itself in
``run.lock.holder`` (host, pid, start time, command line), so a refused second writer can say who
holds the run. A holder file left by a process that died is taken over with a notice.

The lock works where ``flock`` does: local disks, and shared file systems that pass it on to
every client (NFSv4, Lustre and GPFS mounted with locking); on a mount without it, every
process gets the lock and only the holder file tells.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import socket
import sys
from datetime import datetime
from pathlib import Path

import yaml
from filelock import FileLock, Timeout
from lightning.pytorch.utilities import rank_zero_only

from src.runs.resume import is_multirun
from src.utils.config_validation import ConfigError

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
HOLDER_FILE = "run.lock.holder"

_held: dict[Path, FileLock] = {}


class RunInUse(ConfigError):
    """Another live process holds the run directory."""


@rank_zero_only
def claim_run_dir(run_dir: str | Path) -> None:
    """Hold ``run_dir``'s lock until :func:`release_run_dir` or the end of this process (in the
    run's main process: the other ranks write nothing of their own); a second claim by this
    process is a no-op. Raises :class:`RunInUse` naming the holder."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunInUse(
            f"run {run_dir} is in use by {_describe(read_holder(run_dir))}: one process writes "
            "a run at a time. Wait for it to end (or stop it: it checkpoints and exits), then "
            "resume; for another run, leave out resume= / RUN_DIR."
        ) from None
    earlier = read_holder(run_dir)
    if earlier:
        log.warning(
            "Run %s: taking over from %s, which ended without releasing it",
            run_dir,
            _describe(earlier),
        )
    _write_holder(run_dir)
    _held[run_dir] = lock
    if len(_held) == 1:
        atexit.register(_release_all)


def claim_pinned_run_dir(argv: list[str]) -> None:
    """Before Hydra writes into it: claim the run directory that ``RUN_DIR`` pins for the
    command line ``argv`` (a resume, a requeued cluster job), so that a refused writer has
    changed nothing there. A multirun's jobs have directories of their own, claimed each by
    its job."""
    if os.environ.get("RUN_DIR") and not is_multirun(argv):
        claim_run_dir(os.environ["RUN_DIR"])


def release_run_dir(run_dir: str | Path) -> None:
    """Let the next writer in (the next job of a multirun in this process, say)."""
    run_dir = Path(run_dir).resolve()
    lock = _held.pop(run_dir, None)
    if lock is not None:
        (run_dir / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()


def read_holder(run_dir: str | Path) -> dict[str, object]:
    """Who holds (or last held without releasing) ``run_dir``; empty when nobody."""
    path = Path(run_dir) / HOLDER_FILE
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _write_holder(run_dir: Path) -> None:
    holder = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now().isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.orig_argv[0]).name, *sys.orig_argv[1:]]),
    }
    if os.environ.get("SLURM_JOB_ID"):
        holder["slurm_job"] = os.environ["SLURM_JOB_ID"]
    temporary = run_dir / f".{HOLDER_FILE}.{os.getpid()}.tmp"
    temporary.write_text(yaml.safe_dump(holder, sort_keys=False))
    os.replace(temporary, run_dir / HOLDER_FILE)


def _describe(holder: dict[str, object]) -> str:
    if not holder:
        return "another process (it has not described itself yet)"
    job = f", SLURM job {holder['slurm_job']}" if holder.get("slurm_job") else ""
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}{job}, started {holder.get('started')} "
        f"({holder.get('command')})"
    )


def _release_all() -> None:
    for run_dir in list(_held):
        release_run_dir(run_dir)
