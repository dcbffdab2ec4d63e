"""A run SIGKILLed mid-epoch and resumed with ``ckpt_path=last`` ends exactly where an
uninterrupted run ends: weights, EMA weights, optimiser state, step count and metrics.

The run exercises every piece of state a resume must restore: the LR schedule (warmup then
cosine), EMA, the DropBlock ramp and masks, mixup draws, the data order and augmentation
(with loader workers), mid-epoch loader position.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import torch

from tests.training.launch import REPO_ROOT, TINY_RUN, command, environment, launch
from tests.training.stall_at_step import STALLED

EPOCHS, BATCHES = 2, 5  # 10 steps
CHECKPOINT_EVERY = 3  # last.ckpt after steps 3, 5 (epoch end), 6 and 9
KILL_BEFORE = 8  # the kill loses steps 7 and 8 of epoch 1, which the resume must redo


def _overrides(data_root: Path) -> list[str]:
    return [
        *TINY_RUN,
        f"data.root={data_root}",
        "data.num_workers=2",
        f"trainer.max_epochs={EPOCHS}",
        f"+trainer.limit_train_batches={BATCHES}",
        "trainer.deterministic=true",
        "callbacks=ema",
        "callbacks.ema.decay=0.8",
        f"callbacks.last_checkpoint.every_n_train_steps={CHECKPOINT_EVERY}",
        "model.warmup_epochs=1",
        "model.mixup_alpha=0.2",
        "model.backbone.dropblock_prob=0.2",
        "ckpt_path=last",
    ]


def _kill_mid_epoch(overrides: list[str], run_dir: Path) -> None:
    """Start the run, wait until it is about to take step ``KILL_BEFORE + 1``, SIGKILL it."""
    stall = [
        "+callbacks.stall._target_=tests.training.stall_at_step.StallAtStep",
        f"+callbacks.stall.step={KILL_BEFORE}",
    ]
    process = subprocess.Popen(
        command("train.py", overrides + stall),
        cwd=REPO_ROOT,
        env=environment(run_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if STALLED in line:
                break
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert STALLED in lines[-1], "the run ended before the kill:\n" + "".join(lines[-50:])


def _last_validation(run_dir: Path) -> dict[str, float]:
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    last = [row for row in rows if row.get("val/loss")][-1]
    return {key: float(last[key]) for key in ("epoch", "val/loss", "val/acc1")}


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, toy_imagenet_root: Path
) -> None:
    overrides = _overrides(toy_imagenet_root)
    launch("train.py", overrides, tmp_path / "uninterrupted")

    resumed_dir = tmp_path / "resumed"
    _kill_mid_epoch(overrides, resumed_dir)
    killed = torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert killed["global_step"] == 6 and killed["epoch"] == 1  # mid-epoch checkpoint
    assert killed["ImageNetDataModule"] == {"train_loader": {"epoch": 1, "batches": 1}}
    output = launch("train.py", overrides, resumed_dir)
    assert "Resuming from" in output

    expected = torch.load(
        tmp_path / "uninterrupted" / "checkpoints" / "last.ckpt", weights_only=True
    )
    actual = torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert actual["global_step"] == expected["global_step"] == EPOCHS * BATCHES
    for key in ("state_dict", "current_model_state"):  # EMA weights, raw weights
        assert expected[key].keys() == actual[key].keys()
        for name, tensor in expected[key].items():
            torch.testing.assert_close(actual[key][name], tensor, rtol=0, atol=1e-6, msg=name)
    momentum = [
        state["momentum_buffer"] for state in expected["optimizer_states"][0]["state"].values()
    ]
    resumed = [
        state["momentum_buffer"] for state in actual["optimizer_states"][0]["state"].values()
    ]
    for mine, theirs in zip(resumed, momentum, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
    assert actual["lr_schedulers"] == expected["lr_schedulers"]
    assert _last_validation(resumed_dir) == _last_validation(tmp_path / "uninterrupted")
