"""Checking config keys and value types against the signatures they will be passed to.

Hydra would otherwise fail deep inside instantiation (or, for a typo in an optional key, not at
all). Every ``_target_`` in the ``model``, ``data`` and ``trainer`` groups is checked before
anything is built or read: unknown keys get the closest allowed names, wrong types the
expected type.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from src.models.backbones.factory import BACKBONE_CONFIG_KEYS

CHECKED_GROUPS = ("model", "data", "trainer")
_SCALARS = (bool, int, float, str)


class ConfigError(ValueError):
    """A config key or value that its target does not accept."""


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first bad key path and what is allowed there."""
    for group in CHECKED_GROUPS:
        if group in cfg and cfg[group] is not None and "_target_" in cfg[group]:
            values = OmegaConf.to_container(cfg[group], resolve=True)
            _check_target(group, values)
    backbone = OmegaConf.select(cfg, "model.backbone")
    if isinstance(backbone, DictConfig):
        _check_keys("model.backbone", set(backbone), BACKBONE_CONFIG_KEYS)


def _check_target(path: str, values: dict[str, Any]) -> None:
    target = hydra.utils.get_object(values["_target_"])
    signature = inspect.signature(target)
    parameters = signature.parameters
    keys = {key for key in values if not key.startswith("_")}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        _check_keys(path, keys, [name for name in parameters if name != "self"])
    hints = _type_hints(target)
    for key in sorted(keys & set(hints)):
        expected = hints[key]
        if not _accepts(expected, values[key]):
            raise ConfigError(
                f"{path}.{key}={values[key]!r} has the wrong type: "
                f"{_describe(expected)} expected (by {values['_target_']})."
            )


def _check_keys(path: str, keys: set[str], allowed: list[str] | tuple[str, ...]) -> None:
    for key in sorted(keys - set(allowed)):
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" Did you mean {path}.{close[0]}?" if close else ""
        raise ConfigError(
            f"{path}.{key} is not a known key.{hint} Allowed keys: {', '.join(sorted(allowed))}."
        )


def _type_hints(target: Any) -> dict[str, Any]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError):  # annotations that cannot be resolved: skip type checks
        return {}


def _accepts(expected: Any, value: Any) -> bool:
    """Whether ``value`` fits ``expected``; unknown or complex annotations accept anything."""
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(option, value) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if origin in (tuple, list) or expected in (tuple, list):
        return isinstance(value, list | tuple)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected in _SCALARS:
        return isinstance(value, expected)
    if origin is dict or expected is dict:
        return isinstance(value, dict)
    return True


def _describe(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
