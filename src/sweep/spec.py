"""A W&B sweep file, checked, and the command line W&B's agent would run for given values.

The command is built with wandb's own builder (``create_sweep_command`` and
``create_sweep_command_args``), so the offline engine and the tests run exactly what an agent
would; only ``${interpreter}`` differs: the agent looks up ``python`` on PATH, the offline
engine uses the interpreter it runs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

METHODS = ("grid", "random", "bayes")
GOALS = ("maximize", "minimize")
ENV_COMMAND = "/usr/bin/env"  # what the agent puts for ${env}


class SweepFileError(ValueError):
    """A sweep file that the agent or the offline engine could not run."""


@dataclass(frozen=True)
class SweepSpec:
    """The parts of a sweep file that decide what runs and what is optimised."""

    path: Path
    program: str
    method: str
    metric: str
    goal: str
    parameters: dict[str, dict[str, Any]]
    command: list[str]
    early_terminate: dict[str, Any] = field(default_factory=dict)

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check ``path``; errors name the key and the fix."""
    return parse_sweep(Path(path).read_text(), path)


def parse_sweep(text: str, path: str | Path) -> SweepSpec:
    """Check the sweep file ``text`` (read from ``path``, which messages name)."""
    path = Path(path)
    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise SweepFileError(f"{path}: expected a mapping with program, method, metric, ...")
    for key in ("program", "method", "metric", "parameters", "command"):
        if key not in config:
            raise SweepFileError(f"{path}: `{key}` is missing (see configs/sweep/*.yaml)")
    if config["method"] not in METHODS:
        raise SweepFileError(f"{path}: method={config['method']!r}; use one of {list(METHODS)}")
    metric = config["metric"]
    goal = metric.get("goal", "minimize")  # W&B's default
    if "name" not in metric or goal not in GOALS:
        raise SweepFileError(f"{path}: metric needs a name and a goal in {list(GOALS)}")
    for name, parameter in config["parameters"].items():
        if not isinstance(parameter, dict) or "parameters" in parameter:
            raise SweepFileError(
                f"{path}: parameters.{name} must be a flat, dotted key with value/values/min/max "
                "(a nested block reaches Hydra as a Python dict string)"
            )
    command = [str(token) for token in config["command"]]
    if "${args_no_hyphens}" not in command:
        raise SweepFileError(
            f"{path}: command must pass ${{args_no_hyphens}} (k=v); Hydra rejects ${{args}} (--k=v)"
        )
    return SweepSpec(
        path=path,
        program=str(config["program"]),
        method=config["method"],
        metric=str(metric["name"]),
        goal=goal,
        parameters=config["parameters"],
        command=command,
        early_terminate=config.get("early_terminate") or {},
    )


def build_command(
    spec: SweepSpec, values: dict[str, Any], interpreter: str, extra: list[str] | None = None
) -> list[str]:
    """The argv for a run with ``values`` (every parameter, in file order), then ``extra``."""
    ordered = {name: values[name] for name in spec.parameters if name in values}
    macros = create_sweep_command_args({"args": {k: {"value": v} for k, v in ordered.items()}})
    macros.update(env=[ENV_COMMAND], interpreter=[interpreter], program=[spec.program])
    argv: list[str] = []
    for token in create_sweep_command(list(spec.command)):
        if token.startswith("${") and token.endswith("}"):
            name = token[2:-1]
            if name not in macros or not isinstance(macros[name], list):
                raise SweepFileError(f"{spec.path}: command macro {token} is not supported here")
            argv += macros[name]
        else:
            argv.append(token)
    return argv + list(extra or [])
