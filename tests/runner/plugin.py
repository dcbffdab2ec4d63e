"""The pytest side of the entry-point runs (tests/runner/client.py): the environment that lets
a worker's runs fork from its server, the server closed at the end, and the count of runs.

Each test leaves ``os.environ`` as it found it (libraries called in-process set variables of
their own), so that every worker's entry-point runs stay forks of its warm server, which needs
the environment it started with. A plugin of tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.runner import client
from tests.runner.client import RUNS


@pytest.fixture(autouse=True)
def _environment_kept() -> Iterator[None]:
    """Undo what a test's in-process library calls set in ``os.environ`` (``wandb.init`` sets
    ``WANDB_SERVICE``, the inductor cache is chosen through ``TORCHINDUCTOR_CACHE_DIR``): with
    it, the worker's later entry-point runs would each start a fresh interpreter (~5 s of
    imports) instead of a fork of the server. The environment before the first test (collection
    and session fixtures done) is the one the server starts with."""
    saved = dict(os.environ)
    if not client.SESSION_ENV:
        client.SESSION_ENV.update(saved)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _fresh_interpreter_when_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``fresh_interpreter`` checks what only a real process shows (how signals
    end a run, its exit code, its last words on stderr): its runs start as
    ``RESNEST_TEST_ENTRY_POINTS=fresh`` starts them, in every session, CI's included."""
    client.FRESH_FOR_THIS_TEST = request.node.get_closest_marker("fresh_interpreter") is not None
    yield
    client.FRESH_FOR_THIS_TEST = False


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The server of this process stops; a test worker hands its run counts to the controller
    (pytest-xdist's workeroutput)."""
    client.close_server()
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["entry_point_runs"] = dict(RUNS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller adds up what each worker counted."""
    for how, count in getattr(node, "workeroutput", {}).get("entry_point_runs", {}).items():
        RUNS[how] += count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How the entry-point runs of ``run_entry_point`` were started (tests/runner/client.py),
    over every worker: a fresh interpreter costs ~5 s of imports that a fork does not."""
    if any(RUNS.values()):
        counts = ", ".join(f"{count} {how}" for how, count in RUNS.items())
        terminalreporter.write_line(f"entry-point runs: {counts}")
