"""The optimiser is a config node: another one trains the toy presets, and the parameter groups
(no weight decay on norm and bias, heads at ``model.head_lr_mult`` x LR) keep their rules."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers import CONFIG_DIR, QUIET, last_logged, run_entry_point

pytestmark = pytest.mark.slow

ADAMW = ["model/optimizer=adamw", QUIET, "test=false"]


def saved_optimizer(run_dir: Path) -> tuple[dict, list[dict]]:
    """The hyper-parameters and the optimiser's parameter groups in the run's last checkpoint."""
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = checkpoint["optimizer_states"]
    return checkpoint["hyper_parameters"], state["param_groups"]


def test_adamw_trains_toy_cls_one_epoch_with_no_decay_groups(
    small_toy_imagenet_root: Path, tmp_path: Path
) -> None:
    run = run_entry_point(
        "src/train.py",
        [
            "experiment=toy_cls",
            f"data.root={small_toy_imagenet_root}",
            "trainer.max_epochs=1",
            *ADAMW,
        ],
        tmp_path / "run",
    )
    hparams, groups = saved_optimizer(run.run_dir)
    assert hparams["optimizer"]["_target_"].endswith("AdamW")
    assert hparams["lr_schedule"]["warmup_epochs"] == 1  # the preset's, under the new optimiser
    by_name = {group["name"]: group for group in groups}
    assert set(by_name) == {"decay", "no_decay"}
    assert all(group["betas"] == (0.9, 0.999) for group in groups)  # AdamW's own settings
    assert by_name["decay"]["weight_decay"] == pytest.approx(
        5e-5
    )  # the preset's model.weight_decay
    assert by_name["no_decay"]["weight_decay"] == 0.0
    # the preset's LR per 256 images, at its batch, in every group
    preset = yaml.safe_load((CONFIG_DIR / "experiment" / "toy_cls.yaml").read_text())
    lr = preset["model"]["lr"] * preset["data"]["batch_size"] / 256
    assert all(group["initial_lr"] == pytest.approx(lr) for group in groups)
    # norm scales/shifts and biases are exactly the one-dimensional parameters
    assert len(by_name["no_decay"]["params"]) > 0
    assert len(by_name["decay"]["params"]) + len(by_name["no_decay"]["params"]) == len(
        [index for group in groups for index in group["params"]]
    )
    # the epoch ran to its end: its loss and its validation were logged
    assert math.isfinite(last_logged(run.run_dir, "train/loss_epoch"))
    assert 0.0 <= last_logged(run.run_dir, "val/acc1") <= 1.0


def test_adamw_keeps_the_heads_lr_multiplier_and_no_decay_groups(
    small_toy_ade20k_root: Path, tmp_path: Path
) -> None:
    run = run_entry_point(
        "src/train.py",
        [
            "experiment=toy_seg",
            f"data.root={small_toy_ade20k_root}",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
            "model.decay_norm_and_bias=false",
            *ADAMW,
        ],
        tmp_path / "run",
    )
    _, groups = saved_optimizer(run.run_dir)
    lr = {group["name"]: group["initial_lr"] for group in groups}
    decay = {group["name"]: group["weight_decay"] for group in groups}
    parts = ("backbone_", "head_", "aux_")
    assert set(lr) == {f"{part}{kind}" for part in parts for kind in ("decay", "no_decay")}
    base = 0.04 * 4 / 8  # the preset: 0.04 per 8 images, at batch 4
    for name in lr:
        multiple = 1.0 if name.startswith("backbone_") else 10.0  # model.head_lr_mult
        assert lr[name] == pytest.approx(base * multiple), name
        assert decay[name] == (0.0 if name.endswith("no_decay") else pytest.approx(1e-4)), name
