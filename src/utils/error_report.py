"""A mistake in the config, shown by the entry points as its message alone, without a traceback.

Hydra prints an exception raised by the application as a traceback (some fifteen lines over a
:class:`ConfigError`), and one raised while it instantiates a ``_target_`` as the ``repr`` of the
original error on one line, its newlines as ``\\n``. :func:`report_errors` turns both into a
Hydra "compact" error, which Hydra prints as its message and a pointer to
``HYDRA_FULL_ERROR=1``, then exits with status 1. ``HYDRA_FULL_ERROR=1`` still shows the whole
traceback, the original error's included. A write that the file system refused (a full disk, a
quota, a permission) ends the run with :mod:`src.utils.run_writes`' message and exit code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import CompactHydraException, InstantiationException
from omegaconf import DictConfig, OmegaConf

from src.utils.config_validation import ConfigError
from src.utils.run_writes import write_failure, write_failure_exit

Result = TypeVar("Result")


class ReportedError(CompactHydraException):
    """A config mistake, printed by Hydra as its message alone."""


def report_errors(task_function: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """``task_function`` (the function under ``@hydra.main``) with :class:`ConfigError` and
    Hydra's instantiation errors raised as :class:`ReportedError`, and a refused write of the
    run as its message and :data:`~src.utils.run_writes.WRITE_FAILED_EXIT`."""

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
