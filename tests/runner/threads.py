"""The entry-point server (tests/runner/server.py) forks only while it is its process's one thread.

A fork copies only the thread that calls it: a lock that another thread held stays locked in the
child for good, and that thread's work is gone. The server runs no tensor op, so nothing of
torch's starts threads in it; what its imports start, it stops before serving.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

TASKS = Path("/proc/self/task")  # Linux: one entry per thread of this process


def stop_openblas_threads() -> None:
    """Stop the idle thread pools that each OpenBLAS copy (numpy's, scipy's, OpenCV's) starts
    when it is loaded. OpenBLAS stops them itself before every fork (its ``pthread_atfork``
    handler) and starts them again on its next call, in the server and in each child alike;
    stopping them here, once, leaves the server the single thread that the check asks for."""
    if not TASKS.exists():
        return
    with open("/proc/self/maps") as maps:
        libraries = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]}
    for library in sorted(libraries):
        shutdown = getattr(ctypes.CDLL(library), "blas_thread_shutdown_", None)
        if shutdown is not None:  # absent from builds without threads
            shutdown()


def check_single_threaded() -> None:
    """Refuse to fork while any other thread runs in this process: Python threads (``threading``)
    and threads of native libraries alike (the OS's list, where it has one)."""
    python_threads = [thread.name for thread in threading.enumerate()]
    os_threads = sorted(TASKS.iterdir()) if TASKS.exists() else []
    if len(python_threads) == 1 and len(os_threads) <= 1:
        return
    names = [(task / "comm").read_text().strip() + f" (tid {task.name})" for task in os_threads]
    raise RuntimeError(
        "the entry-point server is not single-threaded, so it may not fork: Python threads "
        f"{python_threads}, OS threads {names or 'not listed on this OS'}; find what started "
        "them at import (tests/runner/server.py) or run RESNEST_TEST_ENTRY_POINTS=fresh"
    )
