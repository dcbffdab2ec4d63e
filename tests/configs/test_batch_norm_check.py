"""The small-batch BatchNorm warning, on configs composed with Hydra from the real config tree:
it fires for recipes BatchNorm cannot train well and stays silent for every shipped preset."""

from __future__ import annotations

import logging
import os

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from src.tasks.batch_norm_check import MIN_BATCHNORM_IMAGES, small_batch_warning, warn_small_batch
from tests.helpers import CONFIG_DIR, REPO_ROOT

EXPERIMENTS = sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml"))
PAPER_NODE_GPUS = 8  # the node the paper's recipes are written for (8 GPUs)
# the keys every warning names, so that the fix is one override away
NAMED_KEYS = ("model.backbone.norm_layer", "data.batch_size", "trainer.sync_batchnorm")


def _config(*overrides: str) -> DictConfig:
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("visible_gpus", [0, PAPER_NODE_GPUS])
def test_every_shipped_preset_passes_silently(experiment: str, visible_gpus: int) -> None:
    """Each preset with the trainer preset it names (toy ones: trainer=cpu; the paper's:
    trainer=ddp, every GPU of the node), on a CPU machine and on the paper's 8-GPU node."""
    assert small_batch_warning(_config(f"experiment={experiment}"), visible_gpus) is None


@pytest.mark.parametrize("debug", ["default", "fdr", "overfit"])
def test_debug_presets_of_a_gpu_recipe_pass_silently(debug: str) -> None:
    cfg = _config("experiment=resnest_seg", "trainer=gpu", f"debug={debug}")
    assert small_batch_warning(cfg, visible_gpus=1) is None  # debug runs are on the CPU


@pytest.mark.parametrize(
    ("overrides", "visible_gpus", "said"),
    [
        # DDP without SyncBN, 8 images per GPU: the multi-GPU case, for classification too
        (
            ("experiment=resnest_cls", "trainer.sync_batchnorm=false", "data.batch_size=8"),
            PAPER_NODE_GPUS,
            "trainer.sync_batchnorm=true (statistics over the 64 images of all 8 GPUs",
        ),
        # the ADE20K recipe (2 images per GPU) on one GPU: the mmsegmentation#179 case; SyncBN
        # has nothing to synchronise with there
        (("experiment=resnest_seg", "trainer=gpu"), 1, "model.backbone.norm_layer=groupnorm"),
        (("experiment=resnest_seg",), 1, "on 1 GPU normalises"),  # trainer=ddp on a 1-GPU node
        (
            ("experiment=toy_seg", "trainer=gpu", "model.backbone.norm_layer=syncbn"),
            1,
            "data.batch_size=4 images",
        ),
        (
            (
                "experiment=resnest_cls",
                "trainer=multinode",
                "trainer.sync_batchnorm=false",
                "data.batch_size=8",
            ),
            4,
            "on 8 GPUs",  # two nodes of 4 GPUs
        ),
    ],
)
def test_a_recipe_batchnorm_cannot_train_well_is_warned_about(
    overrides: tuple[str, ...], visible_gpus: int, said: str
) -> None:
    warning = small_batch_warning(_config(*overrides), visible_gpus)
    assert warning is not None and said in warning
    assert all(key in warning for key in NAMED_KEYS)
    assert "69.13 mIoU instead of 79.76" in warning  # the expected effect


@pytest.mark.parametrize(
    "overrides",
    [
        ("experiment=resnest_seg", "trainer=gpu", "model.backbone.norm_layer=groupnorm"),
        ("experiment=resnest_seg", "trainer=gpu", "model.backbone.norm_layer=frozenbn"),
        ("experiment=resnest_seg", "trainer=gpu", f"data.batch_size={MIN_BATCHNORM_IMAGES}"),
        ("experiment=toy_cls", "trainer=gpu", "data.batch_size=4"),  # one GPU, classification
        ("experiment=toy_seg", "trainer=ddp_cpu"),  # CPUs
        ("experiment=resnest_cls", "trainer.devices=2", "data.batch_size=4"),  # SyncBN over 8
    ],
)
def test_recipes_with_enough_images_for_their_statistics_pass(overrides: tuple[str, ...]) -> None:
    assert small_batch_warning(_config(*overrides), visible_gpus=PAPER_NODE_GPUS) is None


def test_the_warning_is_logged_before_training(caplog: pytest.LogCaptureFixture) -> None:
    cfg = _config("experiment=resnest_seg", "trainer=gpu", "trainer.devices=1")
    with caplog.at_level(logging.WARNING, logger="src.tasks.batch_norm_check"):
        warn_small_batch(cfg)  # what src.pipeline.train calls before building the run
    (record,) = caplog.records
    assert record.getMessage() == small_batch_warning(cfg, visible_gpus=1)
