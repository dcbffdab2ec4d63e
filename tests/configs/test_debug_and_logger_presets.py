"""Every documented debug preset and logger runs after the README's install, on the toy presets
(the small toy sets: the debug presets read a few batches) and on a paper preset (its data
swapped to toy data, a small backbone, the rest as is: the debug base itself turns DDP, SyncBN
and compilation off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import QUIET, run_entry_point

pytestmark = pytest.mark.slow

SMALL_BACKBONE = (
    "model.backbone.name=resnest14",
    "model.backbone.stem_width=8",
    "model.backbone.bottleneck_width=8",
)
PAPER_ON_TOY = {
    "resnest_cls": (
        "data=toy_imagenet",
        "data.batch_size=4",
        "data.train_crop=32",
        "data.eval_crop=32",
        *SMALL_BACKBONE,
    ),
}
# one epoch of each preset; the profiler's full epoch cut to two batches
SHORT = {
    "fdr": (),
    "overfit": ("trainer.max_epochs=1",),
    "limit": ("trainer.max_epochs=1",),
    "profiler": ("++trainer.limit_train_batches=2", "++trainer.limit_val_batches=1"),
}
RUNS = [
    ("toy_cls", "fdr", "many"),
    ("toy_cls", "overfit", "tensorboard"),
    ("toy_cls", "limit", "many"),
    ("toy_cls", "profiler", "tensorboard"),
    ("toy_seg", "limit", "tensorboard"),
    # a paper preset's DDP, SyncBN, bf16 and compile settings under the debug base (resnest_seg
    # has the same trainer; tests/configs/test_experiments.py runs it with debug=fdr too)
    ("resnest_cls", "fdr", "tensorboard"),
]


@pytest.mark.parametrize(("experiment", "debug", "logger"), RUNS)
def test_debug_preset_with_logger_runs(
    experiment: str,
    debug: str,
    logger: str,
    tmp_path: Path,
    small_toy_imagenet_root: Path,
    small_toy_ade20k_root: Path,
) -> None:
    root = small_toy_ade20k_root if "seg" in experiment else small_toy_imagenet_root
    overrides = [
        f"experiment={experiment}",
        f"debug={debug}",
        f"logger={logger}",
        *PAPER_ON_TOY.get(experiment, ()),
        f"data.root={root}",
        QUIET,
        *SHORT[debug],
    ]
    run_dir = tmp_path / "run"
    run_entry_point("src/train.py", overrides, run_dir)
    if debug != "fdr":  # fast_dev_run writes no logs
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
