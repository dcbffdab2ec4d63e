"""A NaN training loss: stop naming the step after saving the state from before it, or
(``callbacks.nonfinite_guard.action=skip``) step over it. Either way the BatchNorm statistics
that the NaN batch's forward pass poisoned are put back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from src.utils.checkpoint_io import AtomicCheckpointIO
from tests.helpers import run_entry_point, small_cls_run

pytestmark = pytest.mark.slow


def _poison(*steps: int) -> list[str]:
    """Overrides adding a callback that puts a NaN into the inputs of these steps."""
    return [
        "+callbacks.poison._target_=tests.training.poison_batch.PoisonBatch",
        f"+callbacks.poison.steps=[{','.join(map(str, steps))}]",
    ]


def _all_finite(state_dict: dict[str, torch.Tensor]) -> bool:
    return all(torch.isfinite(tensor).all() for tensor in state_dict.values())


def test_nan_loss_stops_after_saving_the_state_before_that_step(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    overrides = [*small_cls_run(4), f"data.root={small_toy_imagenet_root}"]
    output = run_entry_point(
        "src/train.py", [*overrides, *_poison(2)], run_dir, succeed=False
    ).output
    path = run_dir / "checkpoints" / "nonfinite_step2.ckpt"
    message = (
        f"non-finite training loss (nan) at step 2 (epoch 0, batch 2); the weights before this "
        f"step are saved in '{path}'"
    )
    assert message in output
    checkpoint = AtomicCheckpointIO().load_checkpoint(path)
    assert checkpoint["global_step"] == 2 and _all_finite(checkpoint["state_dict"])


def test_skip_action_steps_over_nan_losses(tmp_path: Path, small_toy_imagenet_root: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *small_cls_run(6),
        f"data.root={small_toy_imagenet_root}",
        "callbacks.nonfinite_guard.action=skip",
        *_poison(1, 4),
    ]
    output = run_entry_point("src/train.py", overrides, run_dir).output
    skipped = re.findall(r"Skipped step (\d+) \(epoch 0, batch \d+\): non-finite", output)
    assert skipped == ["1", "4"]
    checkpoint = AtomicCheckpointIO().load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == 6 and _all_finite(checkpoint["state_dict"])
