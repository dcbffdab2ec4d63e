"""Value ranges written as type annotations: ``batch_size: PositiveInt``.

A signature then says once what it accepts, and config validation reads the range from the
annotation (``typing.Annotated``): a bad value is reported with its config key before anything
is built, instead of failing later where it is first used (a negative batch size would first
show up as a negative learning rate).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any


@dataclass(frozen=True)
class AtLeast:
    """A lower bound on a number, included."""

    minimum: int | float

    def __call__(self, value: int | float) -> bool:
        return value >= self.minimum

    def __str__(self) -> str:
        return f">= {self.minimum}"


PositiveInt = Annotated[int, AtLeast(1)]
NonNegativeInt = Annotated[int, AtLeast(0)]


def annotated_bounds(annotation: Any) -> list[AtLeast]:
    """The ranges written on ``annotation`` (``Annotated[int, AtLeast(1)]``); [] for none."""
    if typing.get_origin(annotation) is not Annotated:
        return []
    return [mark for mark in typing.get_args(annotation)[1:] if isinstance(mark, AtLeast)]
