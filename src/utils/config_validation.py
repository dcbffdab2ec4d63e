"""Checking config keys and value types against the signatures they will be passed to.

Hydra would otherwise fail deep inside instantiation (or, for a typo in an optional key, not at
all). Every ``_target_`` in the ``model``, ``data`` and ``trainer`` groups is checked before
anything is built or read: unknown keys get the closest allowed names, wrong types the
expected type, values outside a range annotated in the signature (``PositiveInt``) the range.
``model.backbone`` is a plain mapping passed to ``create_backbone``, so its keys are checked
against the types of ``create_backbone`` and ``ResNeSt``. :func:`check_devices` then checks
the config against this machine (GPUs asked for, GPUs present).
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from src.models.backbones.factory import backbone_config_types
from src.utils.config_types import annotated_bounds
from src.utils.run_config import hydra_choices

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
        _check_backbone(OmegaConf.to_container(backbone, resolve=True))


def check_devices(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` if the trainer asks for a GPU and this machine has none
    (otherwise the first sign would be an error deep in SyncBatchNorm or NCCL)."""
    accelerator = OmegaConf.select(cfg, "trainer.accelerator")
    if accelerator == "cuda":
        present = torch.cuda.is_available()
    elif accelerator == "gpu":  # Lightning's "gpu" is CUDA or Apple's MPS
        present = torch.cuda.is_available() or torch.backends.mps.is_available()
    else:
        return
    if not present:
        preset = hydra_choices().get("trainer")
        chosen = f"trainer={preset} sets " if preset else ""
        raise ConfigError(
            f"{chosen}trainer.accelerator={accelerator}, but no GPU is available on this "
            "machine. Add trainer=cpu (one process) or trainer=ddp_cpu (DDP over two CPU "
            "processes) to the command line, or run it where there are GPUs."
        )


def _check_target(path: str, values: dict[str, Any]) -> None:
    target = hydra.utils.get_object(values["_target_"])
    signature = inspect.signature(target)
    parameters = signature.parameters
    keys = {key for key in values if not key.startswith("_")}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        _check_keys(path, keys, [name for name in parameters if name != "self"])
    hints = _type_hints(target)
    for key in sorted(keys & set(hints)):
        _check_value(f"{path}.{key}", values[key], hints[key], f"by {values['_target_']}")


def _check_backbone(values: dict[str, Any]) -> None:
    """Keys and types of ``model.backbone``; null is allowed everywhere (the variant's value)."""
    types = backbone_config_types()
    _check_keys("model.backbone", set(values), list(types))
    for key in sorted(values):
        if values[key] is not None:
            where = "by create_backbone; null keeps the variant's own value"
            _check_value(f"model.backbone.{key}", values[key], types[key], where, nullable=True)


def _check_value(path: str, value: Any, expected: Any, where: str, nullable: bool = False) -> None:
    accepted = expected | None if nullable else expected
    if not _accepts(accepted, value):
        raise ConfigError(
            f"{path}={value!r} has the wrong type: {_describe(accepted)} expected ({where})."
        )
    for bound in annotated_bounds(expected):
        if not bound(value):
            raise ConfigError(f"{path}={value!r} is out of range: must be {bound} ({where}).")


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
        return typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError):  # annotations that cannot be resolved: skip type checks
        return {}


def _accepts(expected: Any, value: Any) -> bool:
    """Whether ``value`` fits ``expected``; unknown or complex annotations accept anything."""
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin is typing.Annotated:
        return _accepts(typing.get_args(expected)[0], value)
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
    """The type in the words of a config file: ``int or null``, ``list``, ``one of 'a', 'b'``."""
    origin = typing.get_origin(expected)
    arguments = typing.get_args(expected)
    if origin is typing.Annotated:
        return " ".join([_describe(arguments[0]), *map(str, annotated_bounds(expected))])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(option) for option in arguments))
    if expected is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in arguments)
    if origin in (tuple, list) or expected in (tuple, list):
        return "list"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
