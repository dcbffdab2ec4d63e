"""Stop signals: a run asked to stop finishes its step, checkpoints it and exits ``128 + N``.

Schedulers end jobs by signal far more often than jobs end by themselves: SLURM sends SIGTERM at
preemption, at the time limit and on ``scancel`` (and, with ``--signal=USR1@90``, SIGUSR1 before
the limit); Kubernetes sends SIGTERM; people press Ctrl-C (SIGINT). Lightning on its own exits 0
after a SIGTERM without writing anything, and leaves the ranks of a ``ddp_fork`` / ``ddp_spawn`` run running
when their parent gets it. Here a stop signal only *records* the request
(:func:`install_stop_handlers`); the training process acts on it at the next step boundary
(``src/callbacks/last_checkpoint.py``): every rank agrees on it, ``last.ckpt`` of that step is
written, and the run ends with :class:`RunStopped`, whose exit code is ``128 + signal number``
(SIGINT 130, SIGUSR1 138, SIGTERM 143), the shell's convention, so that a wrapper or scheduler
can tell "stopped, resumable" from "finished" (0) and "failed" (1). A process that started
others (the main process of ``ddp_fork`` / ``ddp_spawn``, rank 0 of Lightning's script launcher) passes each
signal on to them, and its children die with it (:func:`signal_at_parent_death`).

A second SIGINT stops at once (``KeyboardInterrupt``), without a checkpoint: the way out when a
step hangs; the run still exits 130, naming the checkpoint that holds it (``src/runs/stopped_fit.py``).
In the final validation there is no step to finish: a signal ends it at once
(:func:`stop_signals_end_at_once`).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# SLURM's pre-timeout notice (`--signal=USR1@90` in scripts/slurm/train.sbatch and the submitit
# preset): a stop followed by a requeue, where the cluster environment asks for requeues.
REQUEUE_SIGNAL = signal.SIGUSR1
_PR_SET_PDEATHSIG = 1  # prctl(2)
# prctl(2) from the C library the interpreter links, looked up at import: a forked child that
# has not exec'd yet may only call it
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


class RunStopped(SystemExit):
    """The run stopped at a signal after checkpointing its step; the code is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(exit_code(signum))
        self.signum = signum


def exit_code(signum: int) -> int:
    return 128 + int(signum)


class _StopRequest:
    """What this process was asked: the first stop signal's number (0: none), and whom to tell."""

    def __init__(self) -> None:
        self.signum = 0
        self.forward: Callable[[int], None] | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now
        if self.forward is not None:
            self.forward(signum)
        if not self.signum:
            self.signum = signum
            log.warning(
                "%s received: stopping after the current step, with a checkpoint of it",
                signal.Signals(signum).name,
            )


_REQUEST = _StopRequest()


def stop_requested() -> int:
    """The signal number of the stop this process was asked for, 0 when none."""
    return _REQUEST.signum


def install_stop_handlers(
    forward: Callable[[int], None] | None = None, requeue: bool = False
) -> None:
    """Record SIGTERM and SIGINT (and SIGUSR1 where ``requeue``) instead of dying of them;
    ``forward`` passes each on to the processes this one started. Replaces Lightning's own
    SIGTERM handler while it is installed (Lightning restores the earlier handlers when its
    run ends)."""
    _REQUEST.forward = forward
    for signum in (*STOP_SIGNALS, *([REQUEUE_SIGNAL] if requeue else [])):
        signal.signal(signum, _REQUEST.handle)


@contextmanager
def stop_signals_recorded(forward: Callable[[int], None] | None) -> Iterator[None]:
    """For the span of a fit in the process that launches the ranks: record stop signals and
    pass them on, then put the earlier handlers back and forget the request."""
    earlier = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    install_stop_handlers(forward)
    try:
        yield
    finally:
        for signum, handler in earlier.items():
            signal.signal(signum, handler)
        _REQUEST.forward = None
        _REQUEST.signum = 0  # a multirun's next job starts unasked


@contextmanager
def stop_signals_end_at_once() -> Iterator[None]:
    """For work after the fit's last checkpoint (the final validation), where there is no step
    to finish: the first stop signal ends it at once with :class:`RunStopped` (its exit code);
    signals after it are ignored while the process ends."""
    earlier = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def stop_now(signum: int, frame: FrameType | None) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise RunStopped(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop_now)
    try:
        yield
    finally:
        for signum, handler in earlier.items():
            signal.signal(signum, handler)


def signal_at_parent_death(signum: int) -> None:
    """Have the kernel send this process ``signum`` when the thread that started it ends
    (Linux; elsewhere nothing): a started process must not outlive its starter, even one
    killed with SIGKILL. Safe to call between fork and exec."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signum)
