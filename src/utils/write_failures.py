"""A write that fails for lack of space or permission, found behind whatever its library raised.

A full disk or an exhausted quota shows up wherever the run writes next (a checkpoint, a metrics
row, a plot, a config file), each time in the words of the library that was writing: torch's
checkpoint writer says ``unexpected pos 1433728 vs 1433624``, with the ``OSError`` only in the
exception's context. :func:`write_failure` finds that ``OSError`` behind any error;
:func:`src.runs.error_report.write_failure_exit` turns it into what the user needs and exits with
:data:`WRITE_FAILED_EXIT` (``EX_IOERR`` of sysexits.h), so that a wrapper can tell "out of
space, resumable once there is room" from a failed run (1) and a stop signal (128 + N).

Checkpoint sizes are known after the first one, so the writer warns as soon as the next save
will not fit (:func:`warn_if_next_save_will_not_fit`), while there is still time to free space.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

WRITE_FAILED_EXIT = 74  # EX_IOERR: "an error occurred while doing I/O on some file"
# errno values that mean the file system refuses the write, not that the run is wrong
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)
REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)
WRITE_ERRNOS = (*NO_ROOM, *REFUSED)
# below this a run cannot even write its config files (Hydra's, which it reports as a traceback)
MIN_FREE_TO_START = 1_000_000


class RunWriteError(OSError):
    """A write of the run's own file that the file system refused; ``filename`` names it."""


def write_failure(error: BaseException) -> OSError | None:
    """The ``OSError`` of a refused write (:data:`WRITE_ERRNOS`) that is ``error`` or lies behind
    it (its cause or context, as torch's writer leaves it), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in WRITE_ERRNOS:
            return current
        current = current.__cause__ or current.__context__
    return None


def checked_write_error(error: BaseException, path: Path) -> RunWriteError | None:
    """A :class:`RunWriteError` naming ``path`` when ``error`` is a refused write, else None
    (for the writer of ``path`` to raise instead of its library's own words)."""
    failure = write_failure(error)
    if failure is None:
        return None
    return RunWriteError(failure.errno, failure.strerror or os.strerror(failure.errno), str(path))


def free_bytes(path: str | Path) -> int:
    """The space left to this user on the file system that holds ``path`` (or would)."""
    folder = Path(path).absolute()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def warn_if_next_save_will_not_fit(path: Path, size: int) -> None:
    """After writing ``path`` of ``size`` bytes: warn when another file of that size (the next
    save, written beside the old one until it replaces it) will not fit."""
    free = free_bytes(path)
    if free < size:
        log.warning(
            "The next checkpoint (about %s) will not fit: %s free on the file system of %s. "
            "Free some space there (or a quota) before the next save, or the run stops at it.",
            megabytes(size),
            megabytes(free),
            path.parent,
        )
