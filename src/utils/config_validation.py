"""Checking config keys and value types against the signatures they will be passed to.

Hydra would otherwise fail deep inside instantiation (or, for a typo in an optional key, not at
all). Every ``_target_`` node of the checked groups, nested ones included (``model.backbone``,
``model.optimizer``, the heads), is checked against the signature it feeds before anything is
built or read: unknown keys get the closest allowed names, wrong types the expected type,
values outside a range annotated in the signature (``PositiveInt``) the range, and keys that
the receiving code supplies itself (``Supplies`` on its parameter) are refused.
:func:`check_devices` then checks the config against this machine (GPUs asked for, GPUs
present).
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

from src.utils.config_types import FORWARDS_KEYWORDS_TO, annotated_bounds, supplied_keys
from src.utils.run_config import hydra_choices

CHECKED_GROUPS = ("model", "data", "trainer", "callbacks", "logger")
_SCALARS = (bool, int, float, str)


class ConfigError(ValueError):
    """A config key or value that its target does not accept."""


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first bad key path and what is allowed there."""
    for group in CHECKED_GROUPS:
        node = cfg.get(group)
        if isinstance(node, DictConfig):
            _check_nodes(group, OmegaConf.to_container(node, resolve=True))


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


def _check_nodes(path: str, values: Any) -> None:
    """Check every ``_target_`` node in ``values``, the node at ``path`` and all below it."""
    if not isinstance(values, dict):
        return
    if "_target_" in values:
        _check_target(path, values)
    for key, value in values.items():
        _check_nodes(f"{path}.{key}", value)


def accepted_keys(values: dict[str, Any]) -> list[str]:
    """The keys a config node may hold: the parameters of its ``_target_``, or the keys it has
    when it has no target or the target takes ``**kwargs``."""
    keys = [key for key in values if not key.startswith("_")]
    if "_target_" not in values:
        return keys
    parameters = _signature(hydra.utils.get_object(values["_target_"])).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return keys
    return [name for name in parameters if name != "self"]


def unknown_key_error(path: str, key: str, allowed: list[str]) -> ConfigError:
    """``path.key`` (``key`` at the top when ``path`` is empty) is not among ``allowed``: the
    error, with the closest allowed key."""
    prefix = f"{path}." if path else ""
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return ConfigError(
        f"{prefix}{key} is not a known key.{hint} Allowed keys: {', '.join(sorted(allowed))}."
    )


def _check_target(path: str, values: dict[str, Any]) -> None:
    parameters = _signature(hydra.utils.get_object(values["_target_"])).parameters
    keys = {key for key in values if not key.startswith("_")}
    allowed = accepted_keys(values)
    unknown = sorted(keys - set(allowed))
    if unknown:
        raise unknown_key_error(path, unknown[0], allowed)
    where = f"by {values['_target_']}"
    for key in sorted(keys & set(parameters)):
        expected = parameters[key].annotation
        if expected is not inspect.Parameter.empty:
            _check_value(f"{path}.{key}", values[key], expected, where)
            _check_supplied(f"{path}.{key}", values[key], expected, where)


def _check_supplied(path: str, node: Any, expected: Any, where: str) -> None:
    """Refuse keys of the node at ``path`` that the code receiving it passes itself."""
    if not isinstance(node, dict):
        return
    for key in supplied_keys(expected):
        if key in node:
            raise ConfigError(
                f"{path}.{key} cannot be set: it is supplied {where} when the node is "
                f"built. Remove {path}.{key} from the config."
            )


def _signature(target: Any) -> inspect.Signature:
    """The signature a config node of ``target`` is checked against: its own, plus the keywords
    it forwards (:func:`~src.utils.config_types.forwards_keywords_to`), each optional."""
    own = _evaluated_signature(target)
    receiver = getattr(target, FORWARDS_KEYWORDS_TO, None)
    if receiver is None:
        return own
    named = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    forwarded = [
        parameter.replace(
            kind=inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=parameter.annotation | None,
        )
        for name, parameter in _evaluated_signature(receiver).parameters.items()
        if name != "self" and name not in own.parameters
    ]
    return own.replace(parameters=[*named, *forwarded])


def _evaluated_signature(target: Any) -> inspect.Signature:
    """The signature with its annotations evaluated; unresolvable ones are left as strings,
    which accept any value."""
    try:
        return inspect.signature(target, eval_str=True)
    except (NameError, TypeError):
        return inspect.signature(target)


def _check_value(path: str, value: Any, expected: Any, where: str) -> None:
    if isinstance(value, dict) and "_target_" in value:  # a node: checked by its own target
        return
    if not _accepts(expected, value):
        raise ConfigError(
            f"{path}={value!r} has the wrong type: {_describe(expected)} expected ({where})."
        )
    for bound in annotated_bounds(expected):
        if value is not None and not bound(value):
            raise ConfigError(f"{path}={value!r} is out of range: must be {bound} ({where}).")


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
