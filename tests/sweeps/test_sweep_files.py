"""Every file in configs/sweep/ is a W&B sweep that W&B, Hydra and the offline engine accept.

Parameters are drawn from each file's own distributions (through the offline engine's mapping)
and the resulting command-line overrides are composed and validated as the training would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from src.sweep.space import swept
from src.sweep.spec import ENV_COMMAND, SweepSpec, build_command, load_sweep
from src.utils.config_validation import validate_config
from tests.helpers import CONFIG_DIR, REPO_ROOT
from tests.sweeps.sweep_files import SWEEP_FILES, drawn_values

DRAWS = 4
ABSENT = object()


def compose_train(overrides: list[str]) -> DictConfig:
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def fixed_overrides(spec: SweepSpec) -> list[str]:
    """The literal Hydra overrides of the file's command (``experiment=...`` and the like)."""
    return [token for token in spec.command if "=" in token and not token.startswith("${")]


def test_the_three_sweeps_of_the_issue_exist() -> None:
    names = {path.stem for path in SWEEP_FILES}
    assert {"radix_cardinality", "augmentation", "optimizer"} <= names


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_file_parses_as_a_hydra_friendly_wandb_sweep(path: Path) -> None:
    spec = load_sweep(path)
    assert spec.program == "src/train.py" and (REPO_ROOT / spec.program).is_file()
    assert spec.command[:3] == ["${env}", "${interpreter}", "${program}"]
    assert spec.command[-1] == "${args_no_hyphens}"
    assert sum(token.startswith("experiment=") for token in spec.command) == 1
    assert all("." in name for name in spec.parameters), "flat, dotted Hydra keys"


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_every_parameter_key_exists_in_the_composed_config(path: Path) -> None:
    spec = load_sweep(path)
    cfg = compose_train(fixed_overrides(spec))
    missing = [k for k in spec.parameters if OmegaConf.select(cfg, k, default=ABSENT) is ABSENT]
    assert not missing, f"{path.name}: keys absent from the config (Hydra would need +): {missing}"


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_metric_is_the_one_the_experiment_logs_and_checkpoints_on(path: Path) -> None:
    spec = load_sweep(path)
    cfg = compose_train(fixed_overrides(spec))
    assert spec.metric == cfg.optimized_metric  # e.g. val/acc1, as ClassificationModule logs it
    assert spec.maximize == (cfg.optimized_mode == "max")


# The files run the toy preset as written; their headers switch to ImageNet with these overrides.
PRESETS = {"as_written": [], "imagenet": ["experiment=resnest_cls", "data.root=/data/imagenet"]}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_drawn_values_reach_the_config_through_the_wandb_command(
    path: Path, preset: str, tmp_path: Path
) -> None:
    spec = load_sweep(path)
    for values in drawn_values(spec, DRAWS):
        argv = build_command(spec, values, sys.executable, PRESETS[preset])
        overrides = argv[3:]  # after env, interpreter, program
        cfg = compose_train([*overrides, f"paths.output_dir={tmp_path}"])
        validate_config(cfg)
        for name, value in values.items():
            assert OmegaConf.select(cfg, name) == value, f"{name}: {argv}"


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_command_is_what_wandbs_builder_makes(path: Path) -> None:
    spec = load_sweep(path)
    values = drawn_values(spec, 1)[0]
    args = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
    literal = [token for token in spec.command if not token.startswith("${")]
    expected = [ENV_COMMAND, "python", spec.program, *literal, *args["args_no_hyphens"]]
    assert build_command(spec, values, "python") == expected


def test_radix_cardinality_is_the_papers_grid_at_equal_compute() -> None:
    """The 4 x 3 grid, each cell at flops-matched width (the ±5% MACs check: tests/backbones)."""
    spec = load_sweep(CONFIG_DIR / "sweep" / "radix_cardinality.yaml")
    assert spec.method == "grid"
    assert swept(spec) == {
        "model.backbone.radix": {"values": [0, 1, 2, 4]},
        "model.backbone.cardinality": {"values": [1, 2, 4]},
    }
    assert spec.parameters["model.backbone.width_policy"] == {"value": "flops_matched"}
