"""A config composed as an entry point composes it, for tests that build a run in-process.

Hydra's compose API, the run dir pointed at the test's folder and the Hydra choices recorded,
so the tests of checkpoints, folding, prediction and launchers see the same config a user's
``python src/train.py ...`` would, without starting a process.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tests.helpers import CONFIG_DIR, REPO_ROOT


def compose_train(overrides: list[str], run_dir: Path, config_name: str = "train") -> DictConfig:
    """The ``train`` config (or ``eval``, ``predict``) as ``src/train.py`` (``src/eval.py``,
    ``src/predict.py``) would see it, with its run dir in ``run_dir``."""
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            config_name,
            overrides=[*overrides, f"paths.output_dir={run_dir}"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)  # for the Hydra choices that runs record
    return OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])  # as the app sees it
