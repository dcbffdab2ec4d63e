"""How the suite is spread over pytest-xdist workers (``-n auto --dist loadfile`` in pyproject.toml).

Each worker gets its share of the cores as its thread count, so that workers do not oversubscribe
the CPU (OpenMP threads that spin for a core slow every process on it), and a module's tests run
on one worker (``--dist loadfile``), so that a module's or a shared run's fixture is built once.
A plugin of tests/conftest.py.
"""

from __future__ import annotations

import os

import pytest

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
