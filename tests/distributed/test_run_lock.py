"""The run directory's lock in one process: what it records, and a dead holder's leftovers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from src.runs.lock import (
    HOLDER_FILE,
    LOCK_FILE,
    claim_run_dir,
    read_holder,
    release_run_dir,
)


def test_the_holder_names_itself_until_it_releases(tmp_path: Path) -> None:
    claim_run_dir(tmp_path)
    try:
        claim_run_dir(tmp_path)  # a second claim of the same process is a no-op
        holder = read_holder(tmp_path)
        assert holder["pid"] == os.getpid() and holder["host"] and holder["started"]
    finally:
        release_run_dir(tmp_path)
    assert read_holder(tmp_path) == {}
    assert (tmp_path / LOCK_FILE).is_file()  # kept: removing a locked file races a new holder


def test_a_dead_holders_record_is_taken_over_with_a_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = {"host": "node7", "pid": 4_000_000, "started": "2026-01-01T00:00:00", "command": "x"}
    (tmp_path / HOLDER_FILE).write_text(yaml.safe_dump(dead))
    with caplog.at_level(logging.WARNING, logger="src.runs.lock"):
        claim_run_dir(tmp_path)
    try:
        assert "taking over from pid 4000000 on node7" in caplog.text
        assert read_holder(tmp_path)["pid"] == os.getpid()
    finally:
        release_run_dir(tmp_path)
