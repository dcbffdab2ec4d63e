"""The exit code a W&B run is recorded with when a stop signal ends it.

W&B finishes a run at interpreter exit with the code it saw: a ``sys.exit(code)`` call or 1 for
an uncaught exception. A run that stops at a signal ends by raising
:class:`~src.runs.stop_signals.RunStopped` (a ``SystemExit`` that no ``sys.exit`` call made),
so W&B would record 0 and show a preempted run as "finished", like a completed one (the
behaviour reported in wandb#9568). :func:`finish_wandb_run` ends the run with the process's
exit code first (``128 + signal number``), so W&B shows it as failed, and its resume, which
continues the same W&B run (src/runs/wandb_logger.py), finishes it with 0 at the end.
"""

from __future__ import annotations

import sys


def finish_wandb_run(exit_code: int) -> None:
    """Finish this process's W&B run, if it has one, with ``exit_code``.

    wandb is looked up, not imported: a process that never imported it has no run to end.
    """
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None)
    if run is not None:
        run.finish(exit_code=exit_code)
