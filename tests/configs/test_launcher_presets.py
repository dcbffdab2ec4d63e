"""The submitit launcher presets against the plugin's own schema."""

from __future__ import annotations

import os

import pytest
from hydra import compose, initialize_config_dir
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from omegaconf import OmegaConf

from tests.helpers import CONFIG_DIR, REPO_ROOT


@pytest.mark.parametrize(
    ("preset", "schema"), [("submitit_slurm", SlurmQueueConf), ("submitit_local", LocalQueueConf)]
)
def test_each_preset_sets_every_key_of_the_plugin_schema_with_its_types(
    preset: str, schema: type
) -> None:
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={preset}"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher.tasks_per_node == launcher.gpus_per_node  # one process per GPU
    # the file itself, without Hydra's matching of same-named schemas (deprecated in Hydra)
    preset_file = OmegaConf.load(CONFIG_DIR / "hydra" / "launcher" / f"{preset}.yaml")
    assert set(preset_file) == set(OmegaConf.structured(schema))
    OmegaConf.merge(OmegaConf.structured(schema), preset_file)  # raises on a wrongly typed value
