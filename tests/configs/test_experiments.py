"""Every experiment preset composes with Hydra and runs one step on toy data."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.pipeline import train
from tests.composition import compose_train
from tests.helpers import CONFIG_DIR

EXPERIMENTS = sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml"))

# What swaps each preset onto toy data and one CPU process (the presets stay as they are).
TOY_OVERRIDES = {
    "classification": ["data=toy_imagenet", "data.batch_size=4"],
    "segmentation": ["data=toy_ade20k", "data.batch_size=2", "data.val_batch_size=1"],
}
# Presets that keep their own data settings, only pointed at toy data and scaled down: resnest_seg
# runs its own model, batch (2), augmentation and inference at a quarter of its sizes (crop 480
# and base 520 take ~40 s a step on 2 CPU cores): the check that the ADE20K recipe itself runs.
OWN_DATA_SETTINGS = {"resnest_seg": ["data.crop_size=120", "data.base_size=130"]}


def test_every_experiment_is_covered() -> None:
    assert {"toy_cls", "toy_seg", "resnest_cls", "resnest_seg"} <= set(EXPERIMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_one_step_on_toy_data(
    experiment: str, toy_imagenet_root: Path, toy_ade20k_root: Path, tmp_path: Path
) -> None:
    preset = compose_train([f"experiment={experiment}"], tmp_path)
    task = "segmentation" if "Segmentation" in preset.model._target_ else "classification"
    root = toy_ade20k_root if task == "segmentation" else toy_imagenet_root
    cfg = compose_train(
        [
            f"experiment={experiment}",
            *OWN_DATA_SETTINGS.get(experiment, TOY_OVERRIDES[task]),
            f"data.root={root}",
            "trainer=cpu",
            "debug=fdr",
            "model.backbone.pretrained=null",
            "model.compile=false",  # compiling costs minutes on CPU; tests/backbones checks it
            "extras.print_config=false",
            "logger=csv",
        ],
        tmp_path,
    )
    assert cfg.model.backbone.name == preset.model.backbone.name  # the preset's own model
    train(cfg)
