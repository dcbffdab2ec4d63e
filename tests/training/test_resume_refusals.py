"""Resumes that must not go ahead, or not as asked: a refused resume changes no file of the run,
a second writer is refused naming the first, a damaged ``last.ckpt`` falls back to the newest
readable checkpoint, another process count is refused, and a longer run says how its LR
schedule changes.

Each test resumes its own copy of one run stopped by SIGTERM in the middle of its second epoch
(so it holds ``last.ckpt`` of that step and the first epoch's ``epoch_000.ckpt``).
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
import yaml

from src.runs.stop_signals import exit_code
from tests.helpers import run_entry_point, small_cls_run
from tests.training.resume_checks import file_hashes, last_checkpoint, start_stalled

pytestmark = pytest.mark.slow

EPOCHS, BATCHES = 2, 4
STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"
STOPPED_BEFORE = 5  # the run takes step 6 (epoch 1) and stops
NO_STALL = "+callbacks.stall.step=1000000"  # a resume from before step 6 must not stall again


def _overrides(data_root: Path, *extra: str) -> list[str]:
    return [
        *small_cls_run(BATCHES, EPOCHS),
        f"data.root={data_root}",
        "data.batch_size=4",
        "callbacks.last_checkpoint.every_n_train_steps=null",
        STALL,
        *extra,
    ]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path) -> Path:
    logs = tmp_path_factory.mktemp("stopped") / "logs"
    overrides = _overrides(small_toy_imagenet_root, f"paths.log_dir={logs}")
    process, _ = start_stalled(STOPPED_BEFORE, overrides, None)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=300)
    assert process.returncode == exit_code(signal.SIGTERM)
    (run_dir,) = (logs / "train" / "runs").iterdir()
    assert last_checkpoint(run_dir)["global_step"] == STOPPED_BEFORE + 1
    assert (run_dir / "checkpoints" / "epoch_000.ckpt").is_file()
    return run_dir


@pytest.fixture
def run_copy(stopped_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(stopped_run, tmp_path / "run"))


def test_a_refused_resume_changes_no_file_and_a_longer_run_says_how_its_lr_changes(
    run_copy: Path,
) -> None:
    before = file_hashes(run_copy)
    for change, named in (
        ("model.lr=0.5", "model.lr: 0.2 -> 0.5"),
        ("++model.backbone.radx=4", "model.backbone.radx: '<unset>' -> 4"),
        ("model.backbone.radx=4", "model.backbone.radx"),
    ):
        refused = run_entry_point(
            "src/train.py", [f"resume={run_copy}", change], None, succeed=False
        )
        assert named in " ".join(refused.output.split()), refused.output[-3000:]
        assert file_hashes(run_copy) == before, change
    longer = run_entry_point("src/train.py", [f"resume={run_copy}", "trainer.max_epochs=3"], None)
    text = " ".join(longer.output.split())
    assert "LR schedule re-planned for 3 epochs (12 steps; the checkpoint's run planned 2 " in text
    assert f"at step {STOPPED_BEFORE + 1}" in text
    assert last_checkpoint(run_copy)["global_step"] == 3 * BATCHES


def test_a_requeue_in_the_pinned_run_dir_that_changes_the_run_is_refused_changing_nothing(
    run_copy: Path,
) -> None:
    """The cluster's way back (RUN_DIR pinned, the job's own overrides, ckpt_path=last), here
    with a changed LR: refused before Hydra writes into the run."""
    saved = yaml.safe_load((run_copy / ".hydra" / "overrides.yaml").read_text())
    before = file_hashes(run_copy)
    refused = run_entry_point(
        "src/train.py", [*saved, "ckpt_path=last", "model.lr=0.5"], run_copy, succeed=False
    )
    assert "model.lr: 0.2 -> 0.5" in " ".join(refused.output.split()), refused.output[-3000:]
    assert file_hashes(run_copy) == before


def test_a_second_resume_of_a_live_run_is_refused_naming_the_holder(run_copy: Path) -> None:
    first, _ = start_stalled(STOPPED_BEFORE + 1, [f"resume={run_copy}"], run_copy)
    try:
        before = file_hashes(run_copy)
        second = run_entry_point("src/train.py", [f"resume={run_copy}"], None, succeed=False)
        text = " ".join(second.output.split())
        assert f"run {run_copy} is in use by pid {first.pid} on " in text, second.output[-3000:]
        assert file_hashes(run_copy) == before
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=300)
    assert first.returncode == exit_code(signal.SIGTERM)


def test_a_truncated_last_checkpoint_resumes_from_the_newest_readable_one(run_copy: Path) -> None:
    last = run_copy / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    resumed = run_entry_point("src/train.py", [f"resume={run_copy}", NO_STALL], None)
    text = " ".join(resumed.output.split())
    assert f"checkpoint '{last}' is truncated or corrupt" in text
    assert f"resuming from {run_copy / 'checkpoints' / 'epoch_000.ckpt'} instead (step 4)" in text
    assert last_checkpoint(run_copy)["global_step"] == EPOCHS * BATCHES


def test_resuming_a_two_process_run_on_one_is_refused_before_anything_is_written(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    logs = tmp_path / "logs"
    every_step = "callbacks.last_checkpoint.every_n_train_steps=1"
    overrides = _overrides(small_toy_imagenet_root, "trainer=ddp_cpu", every_step)
    process, _ = start_stalled(1, [*overrides, f"paths.log_dir={logs}"], None)
    process.kill()  # mid-epoch, last.ckpt of step 1
    process.communicate()
    (run_dir,) = (logs / "train" / "runs").iterdir()
    before = file_hashes(run_dir)
    refused = run_entry_point(
        "src/train.py", [f"resume={run_dir}", "trainer=cpu"], None, succeed=False
    )
    text = " ".join(refused.output.split())
    assert f"run {run_dir} was trained on 2 processes" in text and "on 1 would repeat" in text
    assert file_hashes(run_dir) == before
