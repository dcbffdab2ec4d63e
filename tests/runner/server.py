"""A process that has imported what the entry points import, and forks one child per run.

Every entry-point run of the suite would otherwise pay the same ~5 s of imports (Lightning, torch,
Hydra, albumentations, the project) before doing a few steps. This server pays them once; each
request forks a child that becomes the requested run: its own stdin/stdout/stderr, environment,
working directory, ``sys.argv`` / ``sys.orig_argv`` and ``sys.path[0]``, the script run as
``__main__``, and then the ordinary exit of the interpreter: the script's exit code, exception or
``KeyboardInterrupt`` reaches Python's own top level, which prints, joins threads, runs the
``atexit`` handlers and tears down as for ``python <script>``. The child is a new process, so
process-wide state (deterministic mode, seeds, signal handlers, logging set up by Hydra) stays its
own. The server runs no tensor op, and before each fork it checks that it is the only thread of
its process (:func:`check_single_threaded`): a fork copies only the forking thread, so a lock
another thread held would stay locked in the child forever.

Protocol (tests/runner/client.py is the client): one JSON request a line on stdin,
``{"argv", "env", "cwd", "stdout", "stderr"}``; for each, two JSON lines back on the reply pipe:
``{"pid": ...}`` once the child exists and ``{"pid": ..., "returncode": ...}`` when it has ended
(negative: the signal that ended it, as in :mod:`subprocess`). Several children may run at once
(a test that holds a stalled run while it starts another), so the end of one may be reported
between the start and the end of another. End of stdin stops the server.
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import selectors
import signal
import sys
from pathlib import Path

REPLIES = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # whatever is printed while importing goes to the log, not into the replies
sys.path[0] = str(Path(__file__).resolve().parents[2])  # the root, for `import src`

# What src/train.py, src/eval.py and src/predict.py import, so the children find it loaded.
import hydra  # noqa: E402, F401
import lightning  # noqa: E402, F401

import src.data.ade20k  # noqa: E402, F401
import src.data.imagenet  # noqa: E402, F401
import src.pipeline  # noqa: E402, F401
import src.prediction.run  # noqa: E402, F401
import src.runs.resume  # noqa: E402, F401
import src.tasks.classification_module  # noqa: E402, F401
import src.tasks.segmentation_module  # noqa: E402, F401
from tests.runner.threads import check_single_threaded, stop_openblas_threads  # noqa: E402


def serve() -> dict:
    """Fork a child per request and report each child's end; return (in the child) the
    request to run. A child's end wakes the loop through a self-pipe (SIGCHLD's wakeup fd)."""
    wakeup, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wakeup, selectors.EVENT_READ)
    pending, children = b"", set()
    while True:
        for key, _ in selector.select():
            if key.fd == wakeup:
                os.read(wakeup, 4096)
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                raise SystemExit(0)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                sys.stdout.flush()
                sys.stderr.flush()
                check_single_threaded()
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    os.close(wakeup)
                    os.close(wake)
                    return json.loads(line)
                children.add(pid)
                REPLIES.write(json.dumps({"pid": pid}) + "\n")
        _report_ended(children)


def _report_ended(children: set[int]) -> None:
    """Reap every child that has ended and report its exit code."""
    for pid in list(children):
        ended, status = os.waitpid(pid, os.WNOHANG)
        if ended:
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            REPLIES.write(json.dumps({"pid": pid, "returncode": code}) + "\n")


def become(request: dict) -> None:
    """Make this child the process ``python <argv>`` would have started."""
    os.setpgid(0, 0)  # its own group: a run that hangs is stopped with everything it started
    REPLIES.close()
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.stdin = open(os.devnull)  # noqa: SIM115  (the process's stdin until it exits)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        if fd == 2 and path == request["stdout"]:
            os.dup2(1, 2)  # one file, one offset: stderr into stdout, as stderr=STDOUT does
            continue
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(file, fd)
        os.close(file)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = list(request["argv"])
    sys.orig_argv = [sys.executable, *sys.argv]  # the command line as typed (run.yaml records it)
    sys.path[0] = str(Path(sys.argv[0]).resolve().parent)  # as Python does for a script


if __name__ == "__main__":
    stop_openblas_threads()
    gc.freeze()  # what was imported stays out of the children's collections (and their memory)
    become(serve())
    # The script's exit code, exception or interrupt goes on to the interpreter's top level.
    runpy.run_path(sys.argv[0], run_name="__main__")
