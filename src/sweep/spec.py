"""A W&B sweep file, checked, and the command line W&B's agent would run for given values.

The command is built by expanding the macros W&B documents for a sweep file's ``command:``
(``${env}``, ``${interpreter}``, ``${program}``, ``${args}``, ``${args_no_hyphens}``,
``${args_no_boolean_flags}``, ``${args_json}``, ``${args_append_hydra}``,
``${args_override_hydra}`` and ``${envvar:NAME}``) the way the agent does, so the offline
engine runs what an agent would (the tests compare with wandb's own builder). Only
``${interpreter}`` differs: the agent looks up ``python`` on PATH, the offline engine uses the
interpreter it runs in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METHODS = ("grid", "random", "bayes")
GOALS = ("maximize", "minimize")
ENV_COMMAND = "/usr/bin/env"  # what the agent puts for ${env}
ENVVAR_MACRO = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")  # an unset variable stays its name


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
    macros = {
        **argument_macros(ordered),
        "env": [ENV_COMMAND],
        "interpreter": [interpreter],
        "program": [spec.program],
    }
    argv: list[str] = []
    for chunk in spec.command:
        token = ENVVAR_MACRO.sub(lambda m: os.environ.get(m.group(1), m.group(1)), str(chunk))
        if token.startswith("${") and token.endswith("}"):
            name = token[2:-1]
            if name not in macros:
                raise SweepFileError(f"{spec.path}: command macro {token} is not supported here")
            argv += macros[name]
        else:
            argv.append(token)
    return argv + list(extra or [])


def argument_macros(values: dict[str, Any]) -> dict[str, list[str]]:
    """The parameter macros of a sweep command for one run's ``values``, as the agent writes
    them (``name=value`` with Python's ``str`` of the value; ``None`` becomes ``"None"``)."""
    pairs = [f"{name}={value}" for name, value in values.items()]
    return {
        "args": [f"--{pair}" for pair in pairs],
        "args_no_hyphens": pairs,
        "args_append_hydra": [f"+{pair}" for pair in pairs],
        "args_override_hydra": [f"++{pair}" for pair in pairs],
        "args_no_boolean_flags": [
            f"--{name}" if value is True else f"--{name}={value}"
            for name, value in values.items()
            if value is not False
        ],
        "args_json": [json.dumps(values)],
    }
