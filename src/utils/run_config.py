"""Showing and recording the configuration a run actually used."""

from __future__ import annotations

from pathlib import Path

import rich
import rich.syntax
import rich.tree
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

TREE_ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths", "extras")


def hydra_choices() -> dict[str, str]:
    """Which file of each config group was picked (``experiment``, ``data``, ``model``, ...)."""
    if not HydraConfig.initialized():
        return {}
    choices = OmegaConf.to_container(HydraConfig.get().runtime.choices)
    return {key: str(value) for key, value in choices.items() if not key.startswith("hydra")}


@rank_zero_only
def print_config_tree(cfg: DictConfig) -> None:
    """The resolved config as a rich tree, one branch per group, groups in a stable order."""
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    fields = [f for f in TREE_ORDER if f in cfg] + [f for f in cfg if f not in TREE_ORDER]
    for field in fields:
        branch = tree.add(field, style="bold", guide_style="dim")
        value = cfg[field]
        text = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


@rank_zero_only
def save_run_config(cfg: DictConfig, output_dir: str | Path) -> None:
    """Write ``config_resolved.yaml`` and ``hydra_choices.yaml`` next to the run's outputs."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (output / "hydra_choices.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(hydra_choices())))
