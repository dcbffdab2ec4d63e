"""SIGTERM and SIGINT mid-epoch: the run takes the step it is at, writes ``last.ckpt`` of that
step, exits ``128 + N``, leaves no process behind, and resumes to the uninterrupted run.

Each run is stopped twice, once by each signal (SIGTERM, then SIGINT after resuming), and
resumed to its end; its ``metrics.csv`` and final state must equal those of the same run never
interrupted. In one process, and on two (``trainer=ddp_cpu``: the signal goes to the main
process, whose ranks are its spawned children).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import torch

from src.runs.stop_signals import exit_code
from tests.helpers import run_entry_point, small_cls_run
from tests.training.resume_checks import assert_same_history, assert_same_weights, start_stalled

pytestmark = [
    pytest.mark.slow,
    pytest.mark.fresh_interpreter,
]  # signals and exit codes: real processes

EPOCHS, BATCHES = 2, 4  # 8 steps; each stop below is mid-epoch
STALL = "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep"
NEVER = 10**6
# (signal, the step the run is stalled before, the checkpoint's step: the one it then takes)
STOPS = ((signal.SIGTERM, 1, 2), (signal.SIGINT, 5, 6))
TRAINERS = ("cpu", "ddp_cpu")
GONE_WITHIN_S = 5.0


def _overrides(data_root: Path, trainer: str) -> list[str]:
    return [
        *small_cls_run(BATCHES, EPOCHS),
        f"data.root={data_root}",
        f"trainer={trainer}",
        "data.batch_size=4",
        "trainer.deterministic=true",
        "trainer.log_every_n_steps=1",
        "callbacks.last_checkpoint.every_n_train_steps=null",  # only the stop writes mid-epoch
        STALL,
    ]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while listing
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


def _stop_at(step: int, signum: int, overrides: list[str], run_dir: Path) -> tuple[int, str]:
    """Start the run, wait until it is stalled before step ``step + 1``, send ``signum`` to its
    main process; return its exit code and output once it and every child it had are gone."""
    process, lines = start_stalled(step, overrides, run_dir)
    children = _children(process.pid)
    process.send_signal(signum)
    lines.extend(process.stdout)
    code = process.wait(timeout=300)
    process.stdout.close()
    deadline = time.monotonic() + GONE_WITHIN_S
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    output = "".join(lines)
    assert not [pid for pid in children if _alive(pid)], f"outlived the run:\n{output[-4000:]}"
    return code, output


@pytest.fixture(scope="module", params=TRAINERS)
def uninterrupted(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    small_toy_imagenet_root: Path,
) -> tuple[str, Path]:
    trainer = request.param
    run_dir = tmp_path_factory.mktemp(f"uninterrupted_{trainer}") / "run"
    overrides = [*_overrides(small_toy_imagenet_root, trainer), f"+callbacks.stall.step={NEVER}"]
    run_entry_point("src/train.py", overrides, run_dir)
    return trainer, run_dir


def test_each_stop_signal_checkpoints_its_step_and_exits_128_plus_n_then_resumes_exactly(
    tmp_path: Path, small_toy_imagenet_root: Path, uninterrupted: tuple[str, Path]
) -> None:
    trainer, expected_dir = uninterrupted
    run_dir = tmp_path / "run"
    overrides = [*_overrides(small_toy_imagenet_root, trainer), "ckpt_path=last"]
    for signum, stalled_at, checkpoint_step in STOPS:
        code, output = _stop_at(stalled_at, signum, overrides, run_dir)
        assert code == exit_code(signum), output[-4000:]
        saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
        assert saved["global_step"] == checkpoint_step, output[-4000:]
        assert f"resume={run_dir}" in output
    run_entry_point("src/train.py", [*overrides, f"+callbacks.stall.step={NEVER}"], run_dir)
    assert_same_history(expected_dir, run_dir)
    assert_same_weights(expected_dir, run_dir, EPOCHS * BATCHES)
