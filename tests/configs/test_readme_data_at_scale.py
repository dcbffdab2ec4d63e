"""docs/data.md, "Data at scale": every conversion (direct or as a SLURM job) and every training
command composes, and is checked against the signatures it feeds (the toy ones also run, in
tests/data/test_shards.py and tests/training/test_shards_training.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from scripts.make_shards import compose_config
from src.utils.config_validation import validate_config
from tests.composition import compose_train
from tests.helpers import REPO_ROOT

SECTION = re.search(
    r"^## Data at scale\n(.*?)(?=^## |\Z)",
    (REPO_ROOT / "docs" / "data.md").read_text(),
    re.S | re.M,
)
BLOCK = re.search(r"```bash\n(.*?)\n```", SECTION[1], re.S)[1] if SECTION else ""
COMMANDS = [
    shlex.split(line)
    for line in BLOCK.replace("\\\n", " ").splitlines()
    if line.startswith(("python ", "sbatch "))
]
CONVERT = ("scripts.make_shards", "scripts/slurm/make_shards.sbatch")


def _overrides(words: list[str]) -> tuple[str, list[str]]:
    """Which config the command composes ("train" or "make_shards"), and its overrides."""
    if words[:2] == ["python", "src/train.py"]:
        return "train", words[2:]
    (script,) = [word for word in words if word in CONVERT]
    return "make_shards", words[words.index(script) + 1 :]


def test_the_section_converts_and_trains_both_data_sets() -> None:
    assert SECTION, "docs/data.md has no 'Data at scale' section"
    kinds = [_overrides(words) for words in COMMANDS]
    converted = {args[0] for kind, args in kinds if kind == "make_shards"}
    trained = [args for kind, args in kinds if kind == "train"]
    assert {"data=imagenet", "data=ade20k", "data=toy_imagenet"} <= converted
    assert all("data.format=shards" in args for args in trained) and len(trained) == 3
    assert any(words[0] == "sbatch" for words in COMMANDS)


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words[:5]))
def test_each_command_composes(words: list[str], tmp_path: Path) -> None:
    kind, overrides = _overrides(words)
    if kind == "train":
        cfg = compose_train(overrides, tmp_path)
        assert cfg.data.format == "shards"
        OmegaConf.resolve(cfg)
    else:  # what scripts/make_shards.py reads: the data preset and the options
        cfg = compose_config(overrides)
        assert cfg.out and cfg.workers >= 1
        OmegaConf.resolve(cfg.data)
    validate_config(cfg)
