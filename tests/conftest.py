"""Session-wide settings and fixtures.

Fixtures: toy datasets generated once per test session and shared, the toy presets' own sets
and small ones of the same look for runs of a few batches, and an S3-compatible server. Tests
must treat these trees as read-only; tests that need a broken layout build their own.

Environment: each test leaves ``os.environ`` as it found it (libraries called in-process set
variables of their own), so that every worker's entry-point runs stay forks of its warm server
(tests/entry_points.py), which needs the environment it started with.

Settings: the suite runs on pytest-xdist workers (``-n auto`` in pyproject.toml). Each worker
gets its share of the cores as its thread count, so that workers do not oversubscribe the CPU
(OpenMP threads that spin for a core slow every process on it), and a module's tests run on one
worker (``--dist loadfile``), so that a module's or a shared run's fixture is built once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.data.toy import make_toy_ade20k, make_toy_imagenet
from tests import entry_points
from tests.entry_points import RUNS

# Nothing is downloaded in tests: the Hugging Face Hub client only reads its cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Session fixtures that train a whole run (tests/training/conftest.py). Under ``--dist loadfile``
# a module's tests share a worker, so all readers of one run live in one module (checked at
# collection), and those modules start first, as the longest pieces of the suite.
SHARED_RUNS = ("toy_seg_run", "toy_cls_run")
# xdist workers on ``-n auto``: the toy runs are two long pieces, so more workers than this
# shorten nothing and each one pays the imports and session fixtures again
MAX_AUTO_WORKERS = 4


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return max(1, min(available_cores(), MAX_AUTO_WORKERS))


if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # set before torch is imported by any test
    _workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // _workers)))


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def _shared_run(item: pytest.Item) -> str | None:
    fixtures = getattr(item, "fixturenames", ())
    return next((run for run in SHARED_RUNS if run in fixtures), None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a shared run read from two modules (two workers would each train it); hand out
    the modules of the shared runs first, then the other modules with slow tests, then the
    rest (stable otherwise; ``--no-loadscope-reorder`` keeps it): many short modules last fill
    in around the long ones, so no worker idles at the end while another runs a long module."""
    modules: dict[str, set[str]] = {}
    for item in items:
        if run := _shared_run(item):
            modules.setdefault(run, set()).add(_module(item))
    for run, files in modules.items():
        if len(files) > 1:
            raise pytest.UsageError(
                f"the session run {run!r} is read by tests in {sorted(files)}: move them into one "
                "module, or each test worker that gets one of them trains the run again"
            )
    first = {file: rank for rank, run in enumerate(SHARED_RUNS) for file in modules.get(run, ())}
    slow = {_module(item) for item in items if item.get_closest_marker("slow")}
    ranks = {
        module: first.get(module, len(first) + (module not in slow))
        for module in map(_module, items)
    }
    items.sort(key=lambda item: ranks[_module(item)])


@pytest.fixture(scope="session")
def toy_imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy presets' ImageNet root (train/ and val/; 8 classes, 400 + 25 images each, 64 px):
    for what needs the whole set, such as the toy_cls preset learning."""
    return make_toy_imagenet(tmp_path_factory.mktemp("toy_imagenet"))


@pytest.fixture(scope="session")
def small_toy_imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy ImageNet root of the same 8 classes with 8 + 4 images each: for runs of a few
    batches (two of 32, six of 8), which would never read the rest of the full set."""
    root = tmp_path_factory.mktemp("small_toy_imagenet")
    return make_toy_imagenet(root, train_per_class=8, val_per_class=4)


@pytest.fixture(scope="session")
def toy_ade20k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that contains the toy presets' ADEChallengeData2016 (96 train / 24 val, 96x128 px)."""
    root = tmp_path_factory.mktemp("toy_ade20k")
    make_toy_ade20k(root)
    return root


@pytest.fixture(scope="session")
def small_toy_ade20k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that contains a toy ADEChallengeData2016 of 16 train / 8 val images, 96x128 px."""
    root = tmp_path_factory.mktemp("small_toy_ade20k")
    make_toy_ade20k(root, num_train=16, num_val=8)
    return root


@pytest.fixture(autouse=True)
def _environment_kept() -> Iterator[None]:
    """Undo what a test's in-process library calls set in ``os.environ`` (``wandb.init`` sets
    ``WANDB_SERVICE``, the inductor cache is chosen through ``TORCHINDUCTOR_CACHE_DIR``): with
    it, the worker's later entry-point runs would each start a fresh interpreter (~5 s of
    imports) instead of a fork of the server. The environment before the first test (collection
    and session fixtures done) is the one the server starts with."""
    saved = dict(os.environ)
    if not entry_points.SESSION_ENV:
        entry_points.SESSION_ENV.update(saved)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A test worker hands its run counts to the controller (pytest-xdist's workeroutput)."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["entry_point_runs"] = dict(RUNS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller adds up what each worker counted."""
    for how, count in getattr(node, "workeroutput", {}).get("entry_point_runs", {}).items():
        RUNS[how] += count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How the entry-point runs of ``run_entry_point`` were started (tests/entry_points.py),
    over every worker: a fresh interpreter costs ~5 s of imports that a fork does not."""
    if any(RUNS.values()):
        counts = ", ".join(f"{count} {how}" for how, count in RUNS.items())
        terminalreporter.write_line(f"entry-point runs: {counts}")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on 127.0.0.1 with an empty test bucket (tests/object_storage.py):
    its endpoint URL, shared by a test worker's tests."""
    from tests.object_storage import s3_server  # moto, imported only where a test needs it

    with s3_server() as endpoint:
        yield endpoint
