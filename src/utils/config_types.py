"""What a signature says about its config values, written as type annotations.

``batch_size: PositiveInt`` says once what range a value takes, and config validation reads the
range from the annotation (``typing.Annotated``): a bad value is reported with its config key
before anything is built, instead of failing later where it is first used (a negative batch
size would first show up as a negative learning rate).

``backbone: Annotated[BackboneFactory, Supplies("num_classes")]`` says that a ``_partial_``
config node is completed by the code it is passed to: a config that also sets ``num_classes``
there is refused, instead of the call silently replacing the configured value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar


@dataclass(frozen=True)
class AtLeast:
    """A lower bound on a number, included."""

    minimum: int | float

    def __call__(self, value: int | float) -> bool:
        return value >= self.minimum

    def __str__(self) -> str:
        return f">= {self.minimum}"


@dataclass(frozen=True)
class Supplies:
    """The arguments a callee passes to a ``_partial_`` config node it receives."""

    keys: tuple[str, ...]

    def __init__(self, *keys: str) -> None:
        object.__setattr__(self, "keys", keys)


PositiveInt = Annotated[int, AtLeast(1)]
NonNegativeInt = Annotated[int, AtLeast(0)]


def annotated_bounds(annotation: Any) -> list[AtLeast]:
    """The ranges written on ``annotation`` (``Annotated[int, AtLeast(1)]``, also inside
    ``... | None``); [] for none."""
    return _marks(annotation, AtLeast)


def supplied_keys(annotation: Any) -> tuple[str, ...]:
    """The keys a ``Supplies`` mark on ``annotation`` names; () for none."""
    return tuple(key for mark in _marks(annotation, Supplies) for key in mark.keys)


def _marks(annotation: Any, kind: type) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [mark for option in typing.get_args(annotation) for mark in _marks(option, kind)]
    if origin is not Annotated:
        return []
    return [mark for mark in typing.get_args(annotation)[1:] if isinstance(mark, kind)]


Function = TypeVar("Function", bound=Callable[..., Any])
FORWARDS_KEYWORDS_TO = "forwards_keywords_to"


def forwards_keywords_to(receiver: Callable[..., Any]) -> Callable[[Function], Function]:
    """Mark a function whose ``**keywords`` are passed on to ``receiver`` (``create_backbone``
    forwards every ``ResNeSt`` argument), so that config validation checks a node's keys against
    the function's named parameters and ``receiver``'s keywords, each forwarded one optional
    (None: the function keeps its own value). The forwarded arguments stay written once, in
    ``receiver``; the function keeps its plain signature."""

    def mark(function: Function) -> Function:
        setattr(function, FORWARDS_KEYWORDS_TO, receiver)
        return function

    return mark
