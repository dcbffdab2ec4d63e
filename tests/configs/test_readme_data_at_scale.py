"""README, "Data at scale": every conversion and training command composes, and is checked
against the signatures it feeds (the toy ones are also run, in tests/data/test_shards.py and
tests/training/test_shards_training.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from scripts.make_shards import compose_config
from src.utils.config_validation import validate_config
from tests.configs.test_experiments import compose_train
from tests.helpers import REPO_ROOT

SECTION = re.search(
    r"^## Data at scale\n(.*?)(?=^## |\Z)", (REPO_ROOT / "README.md").read_text(), re.S | re.M
)
BLOCK = re.search(r"```bash\n(.*?)\n```", SECTION[1], re.S)[1] if SECTION else ""
COMMANDS = [
    shlex.split(line)
    for line in BLOCK.replace("\\\n", " ").splitlines()
    if line.startswith("python ")
]


def test_the_section_converts_and_trains_both_data_sets() -> None:
    assert SECTION, "README.md has no 'Data at scale' section"
    converted = [
        words for words in COMMANDS if words[:3] == ["python", "-m", "scripts.make_shards"]
    ]
    trained = [words for words in COMMANDS if words[:2] == ["python", "src/train.py"]]
    assert {"data=imagenet", "data=ade20k", "data=toy_imagenet"} <= {w[3] for w in converted}
    assert all("data.format=shards" in words for words in trained) and len(trained) == 3
    assert len(converted) + len(trained) == len(COMMANDS)


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words[2:5]))
def test_each_command_composes(words: list[str], tmp_path: Path) -> None:
    if words[:2] == ["python", "src/train.py"]:
        cfg = compose_train(words[2:], tmp_path)
        assert cfg.data.format == "shards"
        OmegaConf.resolve(cfg)
    else:  # what scripts/make_shards.py reads: the data preset and the options
        cfg = compose_config(words[3:])
        assert cfg.out and cfg.workers >= 1
        OmegaConf.resolve(cfg.data)
    validate_config(cfg)
