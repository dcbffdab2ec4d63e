"""The client of tests/entry_point_server.py: entry-point runs as forks of one warm process.

A run goes to the server only when its environment differs from the server's own in variables
that are read when a run starts (not at import, when the server read them): the run dir, W&B's
settings, the weights folder, S3 credentials. Anything else (proxies, caches, thread or kernel
settings) gets a fresh interpreter from the caller, as does every run that a test signals or
kills.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().with_name("entry_point_server.py")
# Variables that the preloaded modules read only once a run starts, so a forked child may
# differ from the server in them: exact names, or prefixes ending in "_". PROJECT_ROOT and
# Lightning's PL_* are set in the test process by tests that compose configs or seed, and
# pytest's PYTEST_CURRENT_TEST names each test; Hydra reads HYDRA_FULL_ERROR when an error
# reaches it. W&B's other variables are not among them: an
# agent's run (WANDB_SWEEP_ID, WANDB_SWEEP_PARAM_PATH) forked from the server lost its sweep
# parameters from the W&B config. boto3 reads AWS_* when a run opens its S3 client.
READ_AT_RUN_TIME = (
    "RUN_DIR",
    "RESNEST_WEIGHTS_DIR",
    "PROJECT_ROOT",
    "WANDB_MODE",
    "HYDRA_FULL_ERROR",
    "PL_",
    "PYTEST_",
    "AWS_",
)


def _read_at_run_time(name: str) -> bool:
    return any(
        name.startswith(key) if key.endswith("_") else name == key for key in READ_AT_RUN_TIME
    )


class EntryPointServer:
    """One server process for the session, started on first use."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.log = tempfile.NamedTemporaryFile(prefix="entry_point_server_", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=self.env,
            text=True,
        )
        self.pending = b""  # what has been read of the replies beyond the last whole line
        atexit.register(self.close)

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a run with ``env`` can be a fork of the server (see the module docstring)."""
        names = set(env) | set(self.env)
        changed = {name for name in names if env.get(name) != self.env.get(name)}
        return self.process.poll() is None and all(_read_at_run_time(n) for n in changed)

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` (``python`` and the script first) as a child of the server; raise
        :class:`subprocess.TimeoutExpired` (after killing the run's process group) past
        ``timeout`` seconds, as :func:`subprocess.run` does."""
        with tempfile.TemporaryDirectory(prefix="entry_point_") as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {
                "argv": list(argv[1:]),  # the child is already the interpreter
                "env": dict(env),
                "cwd": str(cwd),
                "stdout": str(out),
                "stderr": str(err),
            }
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            pid = self._reply(timeout=60)["pid"]
            try:
                returncode = self._reply(timeout)["returncode"]
            except subprocess.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
                self._reply(timeout=60)
                raise subprocess.TimeoutExpired(
                    argv, timeout, out.read_text(), err.read_text()
                ) from None
            return subprocess.CompletedProcess(argv, returncode, out.read_text(), err.read_text())

    def _reply(self, timeout: float) -> dict:
        """The next reply line, read from the pipe unbuffered so that a select never waits on
        data that a buffer already holds."""
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.pending:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    raise subprocess.TimeoutExpired(SERVER_SCRIPT.name, timeout)
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.log.seek(0)
                    log = self.log.read().decode(errors="replace")[-4000:]
                    raise RuntimeError(f"the entry-point server died:\n{log}")
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        self.log.close()


_server: EntryPointServer | None = None
# how the session's runs were started, for the summary at the end (tests/conftest.py)
RUNS = {"forked": 0, "fresh interpreter": 0}


def run_command(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True)`` for an entry point: a fork of
    the warm server where the environment allows, else a fresh interpreter."""
    global _server
    if _server is None:
        _server = EntryPointServer()
    if _server.serves(env):
        RUNS["forked"] += 1
        return _server.run(argv, env, cwd, timeout)
    RUNS["fresh interpreter"] += 1
    return subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
