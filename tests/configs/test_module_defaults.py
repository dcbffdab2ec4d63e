"""A task module built from Python with its defaults trains the recipe that its config group
(configs/model/*.yaml) trains: the same hyper-parameters, so nobody gets another recipe by
building the module in a script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import pytest
from omegaconf import DictConfig

from tests.composition import compose_train

# The config nodes the module is built from (passed to both), and the keys each module needs
# from its data (no default in Python).
NODES = ("backbone", "decode_head", "aux_head", "optimizer", "lr_schedule")
FROM_DATA = ("num_classes",)
SMALL = ("model.backbone.name=resnest14", "model.backbone.pretrained=null")


def _from_python(cfg: DictConfig) -> Any:
    """The module of ``cfg.model`` built with only its nodes and data-owned values."""
    target = hydra.utils.get_class(cfg.model._target_)
    given = {key: hydra.utils.instantiate(cfg.model[key]) for key in NODES if key in cfg.model}
    given.update({key: cfg.model[key] for key in FROM_DATA})
    return target(**given)


@pytest.mark.parametrize(
    ("model", "data"), [("classification", "toy_imagenet"), ("segmentation", "toy_ade20k")]
)
def test_python_defaults_are_the_config_groups_values(
    model: str, data: str, tmp_path: Path
) -> None:
    cfg = compose_train([f"model={model}", f"data={data}", *SMALL], tmp_path)
    from_config = hydra.utils.instantiate(cfg.model)
    from_python = _from_python(cfg)
    expected = {k: v for k, v in from_config.hparams.items() if k not in NODES}
    actual = {k: v for k, v in from_python.hparams.items() if k not in NODES}
    differing = {
        key: (actual.get(key), value)
        for key, value in expected.items()
        if key != "inference" and actual.get(key) != value
    }
    assert not differing, f"(python default, config value): {differing}"
    assert getattr(from_python, "inference", None) == getattr(from_config, "inference", None)
