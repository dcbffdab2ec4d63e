"""The client of tests/runner/server.py: entry-point runs as forks of one warm process.

``RESNEST_TEST_ENTRY_POINTS=fresh`` in the environment of pytest turns the server off: every
entry-point run is then ``python <script> ...`` in a fresh interpreter, as a user types it
(``forked``, the default, forks where it can). Otherwise a run goes to the server only when its environment differs from the server's own in variables
that are read when a run starts (not at import, when the server read them): the run dir, W&B's
settings, the weights folder, S3 credentials. Anything else (proxies, caches, thread or kernel
settings) gets a fresh interpreter from the caller. A run that a test signals or kills
(:func:`start_entry_point`) is served too: several children may run at once.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().with_name("server.py")
FOLLOW_INTERVAL_S = 0.02  # how often a followed output is read again while its run is quiet
UNBOUNDED_S = 24 * 3600.0  # wait() without a timeout
# Variables that the preloaded modules read only once a run starts, so a forked child may
# differ from the server in them: exact names, or prefixes ending in "_". PROJECT_ROOT and
# Lightning's PL_* are set in the test process by tests that compose configs or seed, and
# pytest's PYTEST_CURRENT_TEST names each test; Hydra reads HYDRA_FULL_ERROR when an error
# reaches it. W&B's other variables are not among them: an
# agent's run (WANDB_SWEEP_ID, WANDB_SWEEP_PARAM_PATH) forked from the server lost its sweep
# parameters from the W&B config. boto3 reads AWS_* when a run opens its S3 client; litdata's
# optimize() (a test converting shards in its own process) leaves DATA_OPTIMIZER_* set, which
# only a conversion reads.
# How entry-point runs start (docs/testing.md): the variable and its values, the default first.
MODE_VARIABLE = "RESNEST_TEST_ENTRY_POINTS"
FORKED, FRESH = "forked", "fresh"
MODES = (FORKED, FRESH)
READ_AT_RUN_TIME = (
    "RUN_DIR",
    "RESNEST_WEIGHTS_DIR",
    "PROJECT_ROOT",
    "WANDB_MODE",
    "HYDRA_FULL_ERROR",
    "PL_",
    "PYTEST_",
    "AWS_",
    "DATA_OPTIMIZER_",
)


# The environment between tests (tests/runner/plugin.py fills it before the first test): the server
# starts with it, even when its first run is asked for by a test that has changed the environment.
SESSION_ENV: dict[str, str] = {}


def mode() -> str:
    """How this session starts its entry-point runs, from ``RESNEST_TEST_ENTRY_POINTS``."""
    value = os.environ.get(MODE_VARIABLE, FORKED)
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={value!r}: use one of {', '.join(MODES)}")
    return value


def _read_at_run_time(name: str) -> bool:
    return any(
        name.startswith(key) if key.endswith("_") else name == key for key in READ_AT_RUN_TIME
    )


class EntryPointServer:
    """One server process for the session, started on first use."""

    def __init__(self) -> None:
        self.env = dict(SESSION_ENV or os.environ)
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
        self.ended: dict[int, int] = {}  # exit codes of children, by pid, as reported
        self.outputs = tempfile.TemporaryDirectory(prefix="entry_point_outputs_")  # started runs'

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a run with ``env`` can be a fork of the server (see the module docstring)."""
        names = set(env) | set(self.env)
        changed = {name for name in names if env.get(name) != self.env.get(name)}
        return self.process.poll() is None and all(_read_at_run_time(n) for n in changed)

    def start(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, stdout: Path, stderr: Path
    ) -> int:
        """Start ``argv`` (``python`` and the script first) as a child of the server, its
        output going to the files ``stdout`` and ``stderr`` (the same path: one stream)."""
        request = {
            "argv": list(argv[1:]),  # the child is already the interpreter
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        while "returncode" in (reply := self._reply(timeout=60)):
            self.ended[reply["pid"]] = reply["returncode"]
        return reply["pid"]

    def wait(self, pid: int, timeout: float) -> int:
        """The exit code of child ``pid``; :class:`subprocess.TimeoutExpired` past ``timeout``."""
        deadline = time.monotonic() + timeout
        while pid not in self.ended:
            reply = self._reply(max(0.0, deadline - time.monotonic()))
            self.ended[reply["pid"]] = reply["returncode"]
        return self.ended[pid]

    def poll(self, pid: int) -> int | None:
        """The exit code of child ``pid``, or None while it runs."""
        try:
            return self.wait(pid, timeout=0)
        except subprocess.TimeoutExpired:
            return None

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` as a child of the server; raise :class:`subprocess.TimeoutExpired`
        (after killing the run's process group) past ``timeout`` seconds, as
        :func:`subprocess.run` does."""
        with tempfile.TemporaryDirectory(prefix="entry_point_") as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            pid = self.start(argv, env, cwd, out, err)
            try:
                returncode = self.wait(pid, timeout)
            except subprocess.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
                self.wait(pid, timeout=60)
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
        self.outputs.cleanup()


_server: EntryPointServer | None = None
# set by tests/runner/plugin.py for the test at hand when it is marked ``fresh_interpreter``
FRESH_FOR_THIS_TEST = False
# how the session's runs were started, for the summary at the end (tests/runner/plugin.py)
RUNS = {"forked": 0, "fresh interpreter": 0}


def close_server() -> None:
    """Stop the session's server, if it was started (tests/runner/plugin.py, at session end)."""
    global _server
    if _server is not None:
        _server.close()
        _server = None


def _server_for(env: Mapping[str, str], how: str | None) -> EntryPointServer | None:
    """The session's server if a run with ``env`` is to fork from it (counted either way):
    ``how`` is ``forked`` (an error if ``env`` does not allow it), ``fresh``, or None for the
    session's :func:`mode` (fresh for a test marked ``fresh_interpreter``)."""
    global _server
    if (how or (FRESH if FRESH_FOR_THIS_TEST else mode())) == FRESH:
        RUNS["fresh interpreter"] += 1
        return None
    if _server is None:
        _server = EntryPointServer()
    served = _server.serves(env)
    if how == FORKED and not served:
        raise ValueError(
            "a forked run was asked for, but its environment differs from the server's"
        )
    RUNS["forked" if served else "fresh interpreter"] += 1
    return _server if served else None


def run_command(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    how: str | None = None,
) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True)`` for an entry point: a fork of
    the warm server where the environment allows, else a fresh interpreter (``how``: see
    :func:`_server_for`)."""
    server = _server_for(env, how)
    if server is not None:
        return server.run(argv, env, cwd, timeout)
    return subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )


class FollowedOutput:
    """The text a running process writes to a file, read as it comes: lines until the process
    has ended and the file is read to its end, as a ``Popen``'s ``stdout`` pipe gives them."""

    def __init__(self, path: Path, ended: Callable[[], bool]) -> None:
        self._file = path.open()
        self._ended = ended
        self._partial = ""

    def __iter__(self) -> Iterator[str]:
        return iter(self.readline, "")

    def readline(self) -> str:
        """The next whole line ('' at the end), waiting for it while the process runs."""
        while True:
            self._partial += self._file.readline()
            if self._partial.endswith("\n"):
                line, self._partial = self._partial, ""
                return line
            if self._ended():  # what it wrote before it ended is all there is
                rest, self._partial = self._partial + self._file.read(), ""
                return rest
            time.sleep(FOLLOW_INTERVAL_S)

    def read(self) -> str:
        return "".join(self)

    def close(self) -> None:
        self._file.close()


class ServedProcess:
    """A run started as a fork of the server, with what tests use of a ``subprocess.Popen``
    started with ``stdout=PIPE, stderr=STDOUT, text=True``: its pid, signals, ``stdout``
    read as it comes, ``poll``, ``wait`` and ``communicate``."""

    def __init__(self, server: EntryPointServer, pid: int, output: Path) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = FollowedOutput(output, lambda: self.poll() is not None)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.poll(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server.wait(
                self.pid, UNBOUNDED_S if timeout is None else timeout
            )
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        self.wait(timeout)
        return self.stdout.read(), None

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start_entry_point(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path
) -> ServedProcess | subprocess.Popen:
    """``subprocess.Popen(argv, stdout=PIPE, stderr=STDOUT, text=True)`` for an entry point
    that a test signals or kills: a fork of the warm server where the environment allows, else
    a fresh interpreter."""
    server = _server_for(env, None)
    if server is None:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    handle, name = tempfile.mkstemp(prefix="started_", dir=server.outputs.name)
    os.close(handle)  # the child opens it by name; here it is followed by name
    output = Path(name)
    pid = server.start(argv, env, cwd, output, output)
    return ServedProcess(server, pid, output)
