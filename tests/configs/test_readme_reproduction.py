"""docs/reproducing.md, "Reproducing the paper": every command composes, and says what the tables say.

Each row's command is composed by Hydra exactly as ``src/eval.py`` would compose it and checked
against the signatures it feeds; its reported figure and protocol must be the ones kept in
``src/models/backbones/variants.py`` and ``src/models/segmentation_zoo.py``.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from src.models.backbones import VARIANTS
from src.models.segmentation_zoo import SEGMENTATION_ZOO, zoo_entry
from src.utils.config_validation import validate_config
from src.weights_report import check_something_to_evaluate
from tests.helpers import CONFIG_DIR, REPO_ROOT

SECTION = re.search(
    r"^## Reproducing the paper\n(.*?)(?=^## |\Z)",
    (REPO_ROOT / "docs" / "reproducing.md").read_text(),
    re.S | re.M,
)
ROWS = re.findall(r"^\| (\S+) \| `(python src/eval\.py [^`]+)` \| (.+) \|$", SECTION[1], re.M)
IMAGENET_ROWS = [row for row in ROWS if "imagenet_eval" in row[1]]
ADE20K_ROWS = [row for row in ROWS if "ade20k_eval" in row[1]]


def compose_eval(command: str) -> DictConfig:
    """The config ``command`` gives ``src/eval.py``, checked as the entry point checks it."""
    words = shlex.split(command)
    assert words[:2] == ["python", "src/eval.py"], command
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=words[2:], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # what ${hydra:...} in paths resolves against
    cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    OmegaConf.resolve(cfg)
    validate_config(cfg)  # every key accepted by the signature it feeds
    check_something_to_evaluate(cfg)  # weights to evaluate without a checkpoint
    return cfg


def test_the_section_covers_every_published_number() -> None:
    assert SECTION, "docs/reproducing.md has no 'Reproducing the paper' section"
    released = {name for name, variant in VARIANTS.items() if variant.pretrained}
    assert {row[0] for row in IMAGENET_ROWS} == released
    assert {"resnest50", "resnest101", "resnest200", "resnest269"} <= released
    assert sum(name.startswith("resnest50_fast_") for name in released) == 7
    assert {row[0] for row in ADE20K_ROWS} == set(SEGMENTATION_ZOO)
    assert len(ROWS) == len(IMAGENET_ROWS) + len(ADE20K_ROWS)


@pytest.mark.parametrize(("name", "command", "figures"), IMAGENET_ROWS)
def test_imagenet_command_composes_with_the_weights_and_their_figure(
    name: str, command: str, figures: str
) -> None:
    cfg = compose_eval(command)
    assert cfg.ckpt_path is None and cfg.model.backbone.pretrained is True
    assert cfg.model.backbone.name == name
    info = VARIANTS[name].pretrained
    protocol, reported = figures.rsplit(" | ", 1)
    assert float(reported) == pytest.approx(info.top1, abs=0.005)
    assert protocol.startswith(f"{info.eval_crop} px") and info.protocol.interpolation in protocol
    assert ("ECenterCrop" in protocol) == (info.protocol.rule == "crop_then_resize")
    for key in ("eval_crop", "crop_pct", "crop_rule", "eval_interpolation"):
        assert cfg.data[key] is None, f"{key} is set, so the weights' protocol would not apply"


@pytest.mark.parametrize(("name", "command", "figures"), ADE20K_ROWS)
def test_ade20k_command_composes_their_model_and_protocol(
    name: str, command: str, figures: str
) -> None:
    cfg = compose_eval(command)
    found = zoo_entry(Path(cfg.model.pretrained))
    assert found is not None and found[0] == name
    zoo = found[1]
    assert cfg.model.backbone.name == zoo.backbone and cfg.model.backbone.output_stride == 8
    head = cfg.model.decode_head._target_.rsplit(".", 1)[-1]
    assert head == {"deeplabv3": "DeepLabV3Head", "fcn": "FCNHead"}[zoo.decode_head]
    assert cfg.model.aux_head is not None  # the zoo files carry the auxiliary head
    assert cfg.model.inference.combine == "pytorch_encoding" and cfg.model.align_corners
    assert cfg.data.val_resize == "original" and cfg.data.val_batch_size == 1
    pixacc, miou = (float(value) for value in figures.split(" / "))
    assert (pixacc, miou) == (zoo.pixacc, zoo.miou)
