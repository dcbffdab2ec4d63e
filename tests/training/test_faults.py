"""Faults at any moment of a run end in one clear message and a truthful exit code, with the
earlier checkpoints intact: a full disk at a checkpoint save, a signal in a checkpoint write or
in validation, Ctrl-C twice, a missing data root, a lock holder killed with SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from src.runs.lock import read_holder
from src.runs.resume import checkpoints_newest_first
from src.runs.stop_signals import exit_code
from src.utils.write_failures import WRITE_FAILED_EXIT
from tests.helpers import REPO_ROOT, command, environment, run_entry_point, small_cls_run
from tests.runner.client import ServedProcess, start_entry_point
from tests.training.faults_in_run import STALLED_IN_VALIDATION, STALLED_IN_WRITE
from tests.training.resume_checks import start_until
from tests.training.stall_at_step import STALLED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.fresh_interpreter,
]  # signals and exit codes: real processes

FAULTS = "tests.training.faults_in_run"
# 2 epochs of 2 steps; checkpoint writes 1 and 2 are epoch 0's epoch_000.ckpt and last.ckpt
SECOND_SAVE = ("+callbacks.fault.save=2",)
SMALL_FS_MB = 40  # one checkpoint of this model (25 MB) fits, a second beside it does not


def _overrides(root: Path, fault: str, *extra: str) -> list[str]:
    return [
        *small_cls_run(2, 2),
        f"data.root={root}",
        "data.batch_size=4",
        "callbacks.last_checkpoint.every_n_train_steps=null",
        f"+callbacks.fault._target_={FAULTS}.{fault}",
        *extra,
    ]


def _finish(process: ServedProcess | subprocess.Popen, lines: list[str]) -> tuple[int, str]:
    lines.extend(process.stdout)
    code = process.wait(timeout=300)
    process.stdout.close()
    return code, "".join(lines)


def _newest_loads(run_dir: Path) -> dict:
    """The newest checkpoint of the run, read; no temporary file left beside it."""
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    return torch.load(checkpoints_newest_first(run_dir)[0], weights_only=True)


def _mount_tmpfs(folder: Path, megabytes: int) -> bool:
    """Whether a tmpfs of ``megabytes`` could be mounted on ``folder`` (root, a mount binary)."""
    try:
        mount = ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)]
        return subprocess.run(mount, capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A folder on a 40 MB tmpfs where this process may mount one (root), with no fault to
    inject; elsewhere a plain folder and the injected ENOSPC of a full disk at the second
    checkpoint write (tests/training/faults_in_run.py)."""
    folder = tmp_path / "small_fs"
    folder.mkdir()
    mounted = _mount_tmpfs(folder, SMALL_FS_MB)
    try:
        yield (
            folder,
            [] if mounted else [f"+callbacks.fault._target_={FAULTS}.FullDisk", *SECOND_SAVE],
        )
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_at_a_save_names_the_file_and_the_checkpoint_to_resume_from(
    small_filesystem: tuple[Path, list[str]], small_toy_imagenet_root: Path
) -> None:
    folder, fault = small_filesystem
    run_dir = folder / "run"
    overrides = [*small_cls_run(2, 2), f"data.root={small_toy_imagenet_root}", "data.batch_size=4"]
    overrides += ["callbacks.last_checkpoint.every_n_train_steps=null", *fault]
    process = start_entry_point(command("src/train.py", overrides), environment(run_dir), REPO_ROOT)
    code, output = _finish(process, [])
    assert code == WRITE_FAILED_EXIT, output[-4000:]
    assert "Traceback" not in output
    message = next(line for line in output.splitlines() if line.startswith("error: "))
    assert f"cannot write '{run_dir / 'checkpoints' / 'last.ckpt'}'" in message
    assert "No space left on device" in message and "free on its file system" in message
    assert f"{run_dir / 'checkpoints' / 'epoch_000.ckpt'} holds the run" in message
    assert f"resume={run_dir}" in message
    if not fault:  # the real small file system: the warning came at the first save
        assert "The next checkpoint (about 25.0 MB) will not fit" in output
    assert _newest_loads(run_dir)["global_step"] == 2


def test_a_signal_in_a_checkpoint_write_stops_after_the_next_step_with_rc_143(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = _overrides(small_toy_imagenet_root, "StallInCheckpointWrite", *SECOND_SAVE)
    process, lines = start_until(STALLED_IN_WRITE, overrides, run_dir)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process, lines)
    assert code == exit_code(signal.SIGTERM), output[-4000:]
    assert f"resume={run_dir}" in output
    assert _newest_loads(run_dir)["global_step"] == 3  # the write completed, then one step


def test_ctrl_c_twice_in_a_checkpoint_write_exits_130_naming_the_checkpoint_to_resume_from(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = _overrides(small_toy_imagenet_root, "StallInCheckpointWrite", *SECOND_SAVE)
    process, lines = start_until(STALLED_IN_WRITE, overrides, run_dir)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    code, output = _finish(process, lines)
    assert code == exit_code(signal.SIGINT), output[-4000:]
    assert f"{run_dir / 'checkpoints' / 'epoch_000.ckpt'} (step 2) holds the run" in output
    assert f"resume={run_dir}" in output
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()  # the interrupted write
    assert _newest_loads(run_dir)["global_step"] == 2


def test_a_signal_in_validation_stops_with_the_epochs_checkpoint_and_rc_143(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = _overrides(small_toy_imagenet_root, "StallInValidation")
    process, lines = start_until(STALLED_IN_VALIDATION, overrides, run_dir)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process, lines)
    assert code == exit_code(signal.SIGTERM), output[-4000:]
    assert _newest_loads(run_dir)["global_step"] == 2


def test_a_signal_in_the_final_validation_ends_it_naming_the_checkpoint(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = _overrides(small_toy_imagenet_root, "StallInValidation", "test=true")
    overrides += ["+callbacks.fault.final=true"]
    process, lines = start_until(STALLED_IN_VALIDATION, overrides, run_dir)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process, lines)
    assert code == exit_code(signal.SIGTERM), output[-4000:]
    assert "SIGTERM in the final validation; training had finished" in output
    (best,) = (run_dir / "checkpoints").glob("epoch_*.ckpt")  # save_top_k=1
    assert f"python src/eval.py ckpt_path={best}" in output
    assert _newest_loads(run_dir)["global_step"] == 4


def test_a_missing_data_root_is_its_message_alone_before_the_run_dir_exists(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    missing = tmp_path / "nope"
    overrides = [*small_cls_run(1), f"data.root={missing}", "data.toy=false"]
    run = run_entry_point("src/train.py", overrides, run_dir, succeed=False)
    assert run.output.strip().splitlines() == [
        f"error: data.root={missing} does not exist; set data.root to the folder holding "
        "train/ and val/ (or data.toy=true to generate a toy set there)"
    ]
    assert not run_dir.exists()


def test_a_lock_holder_killed_with_sigkill_is_taken_over_with_a_notice(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *small_cls_run(2),
        f"data.root={small_toy_imagenet_root}",
        "data.batch_size=4",
        "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep",
        "+callbacks.stall.step=1",
    ]
    killed, _ = start_until(STALLED, overrides, run_dir)
    dead = read_holder(run_dir)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    killed.stdout.close()
    process, lines = start_until(STALLED, overrides, run_dir)
    holder = read_holder(run_dir)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process, lines)
    assert code == exit_code(signal.SIGTERM), output[-4000:]
    assert f"taking over from pid {dead['pid']} on {dead['host']}, started {dead['started']}" in (
        output
    )
    assert holder["pid"] != dead["pid"] and holder["started"]
