"""W&B distributions, methods and early termination map onto Optuna's."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from src.sweep.space import make_pruner, make_sampler, suggest_all
from src.sweep.spec import SweepFileError, SweepSpec

PARAMETERS = {
    "data.scale": {"values": [[0.08, 1.0], [0.35, 1.0]]},
    "data.auto_augment": {"value": "randaugment"},
    "data.randaug_m": {"min": 4, "max": 20},
    "data.color_jitter": {"min": 0.0, "max": 0.4},
    "model.lr": {"distribution": "log_uniform_values", "min": 0.01, "max": 1.0},
    "model.weight_decay": {"distribution": "log_uniform", "min": -11.5, "max": -7.6},
    "model.warmup_epochs": {"distribution": "q_uniform", "min": 0.0, "max": 5.0, "q": 0.5},
}


def spec_with(
    parameters: dict, method: str = "random", early_terminate: dict | None = None
) -> SweepSpec:
    return SweepSpec(
        path=Path("test.yaml"),
        program="src/train.py",
        method=method,
        metric="val/acc1",
        goal="maximize",
        parameters=parameters,
        command=["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
        early_terminate=early_terminate or {},
    )


def test_each_distribution_draws_values_of_its_kind_and_range() -> None:
    study = optuna.create_study(sampler=make_sampler(spec_with(PARAMETERS), seed=0))
    for _ in range(20):
        values = suggest_all(study.ask(), spec_with(PARAMETERS))
        assert (
            values["data.scale"] in PARAMETERS["data.scale"]["values"]
        )  # lists come back as lists
        assert values["data.auto_augment"] == "randaugment"
        assert isinstance(values["data.randaug_m"], int) and 4 <= values["data.randaug_m"] <= 20
        assert (
            isinstance(values["data.color_jitter"], float)
            and 0 <= values["data.color_jitter"] <= 0.4
        )
        assert 0.01 <= values["model.lr"] <= 1.0
        assert math.exp(-11.5) <= values["model.weight_decay"] <= math.exp(-7.6)
        assert values["model.warmup_epochs"] * 2 == int(values["model.warmup_epochs"] * 2)


def test_methods_pick_optuna_samplers() -> None:
    grid = {
        "model.backbone.radix": {"values": [0, 1]},
        "model.backbone.cardinality": {"values": [1, 2]},
    }
    assert isinstance(make_sampler(spec_with(grid, "grid")), optuna.samplers.GridSampler)
    assert isinstance(make_sampler(spec_with(grid, "random")), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler(spec_with(grid, "bayes")), optuna.samplers.TPESampler)
    study = optuna.create_study(sampler=make_sampler(spec_with(grid, "grid")))
    cells = {tuple(suggest_all(study.ask(), spec_with(grid, "grid")).values()) for _ in range(4)}
    assert cells == {(0, 1), (0, 2), (1, 1), (1, 2)}


def test_hyperband_takes_min_iter_and_eta() -> None:
    pruner = make_pruner(
        spec_with({}, early_terminate={"type": "hyperband", "min_iter": 3, "eta": 3})
    )
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert pruner._min_resource == 3 and pruner._reduction_factor == 3
    assert isinstance(make_pruner(spec_with({})), optuna.pruners.NopPruner)


@pytest.mark.parametrize(
    ("parameters", "method", "message"),
    [
        ({"model.lr": {"distribution": "normal", "mu": 0, "sigma": 1}}, "random", "model.lr"),
        (
            {"model.lr": {"min": 0.01, "max": 1.0}},
            "grid",
            "grid needs `values` for parameters.model.lr",
        ),
    ],
)
def test_what_has_no_offline_equivalent_is_named(
    parameters: dict, method: str, message: str
) -> None:
    spec = spec_with(parameters, method)
    with pytest.raises(SweepFileError, match=message.replace(".", r"\.")):
        study = optuna.create_study(sampler=make_sampler(spec))
        suggest_all(study.ask(), spec)
