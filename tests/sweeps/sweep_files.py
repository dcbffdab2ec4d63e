"""The sweep files under test, and values drawn from their own distributions."""

from __future__ import annotations

from typing import Any

import optuna

from src.sweep.space import suggest_all
from src.sweep.spec import SweepSpec
from tests.helpers import CONFIG_DIR

SWEEP_FILES = sorted((CONFIG_DIR / "sweep").glob("*.yaml"))


def drawn_values(spec: SweepSpec, draws: int, seed: int = 0) -> list[dict[str, Any]]:
    """``draws`` random parameter sets, fixed values included, via the offline engine's mapping."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [suggest_all(study.ask(), spec) for _ in range(draws)]
