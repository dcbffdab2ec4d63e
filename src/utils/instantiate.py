"""Instantiating the list-like config groups (callbacks, loggers)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Every entry of a group with a ``_target_`` (``callbacks``, ``logger``); none when empty."""
    if not group:
        return []
    return [hydra.utils.instantiate(entry) for entry in group.values() if "_target_" in entry]
