"""A mistake in the config, shown by the entry points as its message alone, without a traceback.

Hydra prints an exception raised by the application as a traceback (some fifteen lines over a
:class:`ConfigError`), and one raised while it instantiates a ``_target_`` as the ``repr`` of the
original error on one line, its newlines as ``\\n``. :func:`report_errors` turns both into a
Hydra "compact" error, which Hydra prints as its message and a pointer to
``HYDRA_FULL_ERROR=1``, then exits with status 1. ``HYDRA_FULL_ERROR=1`` still shows the whole
traceback, the original error's included. A write that the file system refused (a full disk, a
quota, a permission) ends the run with :func:`write_failure_exit`'s message and exit code.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hydra.errors import CompactHydraException, InstantiationException
from omegaconf import DictConfig, OmegaConf

from src.runs.resume import RESUME_COMMAND, checkpoints_newest_first
from src.utils.config_validation import ConfigError
from src.utils.write_failures import (
    NO_ROOM,
    WRITE_FAILED_EXIT,
    free_bytes,
    megabytes,
    write_failure,
)

Result = TypeVar("Result")


class ReportedError(CompactHydraException):
    """A config mistake, printed by Hydra as its message alone."""


def report_errors(task_function: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """``task_function`` (the function under ``@hydra.main``) with :class:`ConfigError` and
    Hydra's instantiation errors raised as :class:`ReportedError`, and a refused write of the
    run as its message and :data:`~src.utils.write_failures.WRITE_FAILED_EXIT`."""

    @functools.wraps(task_function)
    def run(cfg: DictConfig) -> Result:
        try:
            return task_function(cfg)
        except ConfigError as error:
            raise ReportedError(str(error)) from error
        except InstantiationException as error:
            raise ReportedError(instantiation_message(error)) from error
        except Exception as error:
            failure = write_failure(error)
            if failure is None:
                raise
            raise write_failure_exit(failure, OmegaConf.select(cfg, "paths.output_dir")) from error

    return run


def instantiation_message(error: InstantiationException) -> str:
    """Hydra's message for the innermost failed ``_target_`` (which target, its key), with the
    error it raised written out as it was raised rather than as a ``repr``."""
    while isinstance(error.__cause__, InstantiationException):
        error = error.__cause__
    cause = error.__cause__
    if cause is None:  # Hydra's own complaint about the node: already plain
        return str(error)
    lines = str(error).splitlines()
    full_key = [line for line in lines if line.startswith("full_key:")]
    return "\n".join([lines[0], f"{type(cause).__name__}: {cause}", *full_key])


def write_failure_exit(failure: OSError, run_dir: str | Path) -> SystemExit:
    """Print what failed and how to go on (stderr, one paragraph), and the exit to raise."""
    run_dir = Path(run_dir)
    target = Path(failure.filename) if failure.filename else None
    where = f"'{target}'" if target else f"a file in {run_dir}"
    reason = failure.strerror or os.strerror(failure.errno or 0)
    space = f"{megabytes(free_bytes(target or run_dir))} free on its file system"
    fix = (
        "Free some space there (or raise the quota)"
        if failure.errno in NO_ROOM
        else ("Make it writable")
    )
    checkpoints = checkpoints_newest_first(run_dir) if run_dir.is_dir() else []
    if checkpoints:
        held = f"{checkpoints[0]} holds the run; nothing earlier was lost"
        then = f"then resume with: {RESUME_COMMAND.format(run_dir=run_dir)}"
    else:
        held = "No checkpoint was written yet"
        then = "then run it again (or set paths.log_dir to another file system)"
    print(
        f"error: cannot write {where}: {reason} ({space}). {held}. {fix}, {then}",
        file=sys.stderr,
        flush=True,
    )
    return SystemExit(WRITE_FAILED_EXIT)
