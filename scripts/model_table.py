"""Parameters and multiply-accumulates of every registered backbone, beside the published figures.

Counts run on the ``meta`` device (no memory, no arithmetic), so the whole table takes seconds:

    python -m scripts.model_table             # rich table in the terminal
    python -m scripts.model_table --markdown  # Markdown, e.g. for docs/
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import torch

from src.models.backbones import VARIANTS, create_backbone
from src.models.backbones.complexity import count_macs, count_params
from src.utils.table import Table, fmt, print_table

# Published FLOP tables are at 224 px; a variant without a checkpoint is evaluated there too.
REFERENCE_SIZE = 224


@dataclass(frozen=True)
class ModelFigures:
    """Measured and published figures of one registered backbone."""

    name: str
    params_m: float
    eval_crop: int
    gmacs_eval: float
    gmacs_224: float
    published_gmacs: float | None
    top1: float | None


@cache
def _gmacs(name: str, image_size: int) -> float:
    return count_macs(lambda: create_backbone(name), image_size) / 1e9


def model_figures(name: str) -> ModelFigures:
    """Count ``name`` at its checkpoint's evaluation crop (224 without one) and at 224."""
    variant = VARIANTS[name]
    eval_crop = variant.pretrained.eval_crop if variant.pretrained else REFERENCE_SIZE
    with torch.device("meta"):
        params = count_params(create_backbone(name))
    return ModelFigures(
        name=name,
        params_m=params / 1e6,
        eval_crop=eval_crop,
        gmacs_eval=_gmacs(name, eval_crop),
        gmacs_224=_gmacs(name, REFERENCE_SIZE),
        published_gmacs=variant.gmacs,
        top1=variant.pretrained.top1 if variant.pretrained else None,
    )


def model_table(names: Sequence[str]) -> Table:
    table = Table(
        title="ResNeSt backbones: size and compute",
        columns=[
            "model",
            "params (M)",
            "eval crop",
            "GMACs @ crop",
            "GMACs @ 224",
            "paper GMACs @ 224",
            "top-1 (%)",
        ],
    )
    for figures in map(model_figures, names):
        table.add_row(
            figures.name,
            fmt(figures.params_m),
            str(figures.eval_crop),
            fmt(figures.gmacs_eval),
            fmt(figures.gmacs_224),
            fmt(figures.published_gmacs),
            fmt(figures.top1),
        )
    table.notes += [
        "MACs: one multiply-accumulate of a convolution or linear layer = 1 (the paper's "
        "'GFLOPs' column counts the same way; FLOPs = 2 x MACs). Norms, activations and pooling "
        "are not counted.",
        "paper GMACs and top-1 (released weights) are the published figures kept in "
        "src/models/backbones/variants.py (official README, paper); — where none was published.",
    ]
    return table


def main(argv: Sequence[str] | None = None) -> Table:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print Markdown instead")
    args = parser.parse_args(argv)
    table = model_table(list(VARIANTS))  # table order: family by depth, then ablations
    if args.markdown:
        print(table.to_markdown())
    else:
        print_table(table)
    return table


if __name__ == "__main__":
    main()
