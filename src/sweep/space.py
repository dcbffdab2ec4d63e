"""W&B sweep methods, distributions and early termination in Optuna's terms.

grid -> GridSampler, random -> RandomSampler, bayes -> TPESampler (W&B uses a Gaussian process;
TPE is Optuna's default model-based sampler); ``early_terminate: hyperband`` -> HyperbandPruner
with ``min_iter``/``max_iter`` as resources and ``eta`` as reduction factor, one resource unit per
reported epoch, as W&B counts one iteration per logged value of the metric.

Optuna's categorical choices must be scalars, so list values (``data.scale: [0.08, 1.0]``) are
stored in the study as their JSON text and decoded before they reach the command line.
"""

from __future__ import annotations

import json
import math
from typing import Any

import optuna

from src.sweep.spec import SweepFileError, SweepSpec

_SCALARS = (type(None), bool, int, float, str)
DISTRIBUTIONS = (
    "categorical",
    "constant",
    "uniform",
    "int_uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
)


def swept(spec: SweepSpec) -> dict[str, dict[str, Any]]:
    """The parameters that vary between runs (everything but ``value:``)."""
    return {name: p for name, p in spec.parameters.items() if "value" not in p}


def encode(value: Any) -> Any:
    return value if isinstance(value, _SCALARS) else json.dumps(value)


def decode(parameter: dict[str, Any], stored: Any) -> Any:
    """The file's own value for a stored choice (the JSON text of a list maps back to it)."""
    for value in parameter.get("values", ()):
        if encode(value) == stored:
            return value
    return stored


def distribution(name: str, parameter: dict[str, Any]) -> str:
    """W&B's rule: values -> categorical, value -> constant, int min/max -> int_uniform,
    otherwise min/max -> uniform, unless ``distribution`` says."""
    if "distribution" in parameter:
        kind = parameter["distribution"]
    elif "values" in parameter:
        kind = "categorical"
    elif "value" in parameter:
        kind = "constant"
    elif "min" in parameter and "max" in parameter:
        both_int = all(isinstance(parameter[k], int) for k in ("min", "max"))
        kind = "int_uniform" if both_int else "uniform"
    else:
        raise SweepFileError(f"parameters.{name} needs value, values or min/max")
    if kind not in DISTRIBUTIONS:
        raise SweepFileError(
            f"parameters.{name}: distribution {kind!r} has no offline equivalent; "
            f"use one of {list(DISTRIBUTIONS)}"
        )
    return kind


def suggest(trial: optuna.Trial, name: str, parameter: dict[str, Any]) -> Any:
    """Draw ``name`` from its W&B distribution through ``trial``."""
    kind = distribution(name, parameter)
    low, high = parameter.get("min"), parameter.get("max")
    if kind == "constant":
        return parameter["value"]
    if kind == "categorical":
        choices = [encode(value) for value in parameter["values"]]
        return decode(parameter, trial.suggest_categorical(name, choices))
    if kind == "int_uniform":
        return trial.suggest_int(name, int(low), int(high))
    if kind == "q_uniform":
        return trial.suggest_float(name, low, high, step=parameter.get("q", 1.0))
    if kind == "log_uniform":  # W&B's min/max are natural logs of the bounds
        return trial.suggest_float(name, math.exp(low), math.exp(high), log=True)
    return trial.suggest_float(name, float(low), float(high), log=kind == "log_uniform_values")


def suggest_all(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Every parameter's value for this trial, fixed ones included, in file order."""
    return {name: suggest(trial, name, p) for name, p in spec.parameters.items()}


def grid_space(spec: SweepSpec) -> dict[str, list[Any]]:
    """GridSampler's search space; W&B grids take ``values`` (and ``value``) only."""
    space = {}
    for name, parameter in swept(spec).items():
        if distribution(name, parameter) != "categorical":
            raise SweepFileError(
                f"{spec.path}: method grid needs `values` for parameters.{name}, "
                "or use method random/bayes for a distribution"
            )
        space[name] = [encode(value) for value in parameter["values"]]
    return space


def make_sampler(spec: SweepSpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    if spec.method == "grid":
        return optuna.samplers.GridSampler(grid_space(spec), seed=seed)
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """Hyperband for ``early_terminate: {type: hyperband}``; no pruning otherwise."""
    terminate = spec.early_terminate
    if not terminate:
        return optuna.pruners.NopPruner()
    if terminate.get("type") != "hyperband":
        raise SweepFileError(f"{spec.path}: early_terminate.type must be hyperband (W&B's only)")
    return optuna.pruners.HyperbandPruner(
        min_resource=terminate.get("min_iter", 1),
        max_resource=terminate.get("max_iter", "auto"),
        reduction_factor=terminate.get("eta", 3),
    )
