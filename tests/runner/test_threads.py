"""The server's check before each fork names every other thread it finds."""

from __future__ import annotations

import threading

import pytest

from tests.runner.threads import check_single_threaded


def test_the_check_before_a_fork_refuses_and_names_a_running_thread() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="still-running")
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="not single-threaded.*still-running"):
            check_single_threaded()
    finally:
        release.set()
        thread.join()
