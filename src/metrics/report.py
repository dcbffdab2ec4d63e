"""Console tables of segmentation results, printed at the end of an evaluation."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from src.utils.table import Table

# What each summary metric is, and whose convention it follows (see src/metrics/segmentation.py).
CONVENTIONS: tuple[tuple[str, str, str], ...] = (
    ("pixacc", "pixAcc", "correct / labelled pixels over the whole set (everyone's)"),
    (
        "miou",
        "mIoU",
        "mean over the classes present in labels or predictions (mmsegmentation's nanmean)",
    ),
    (
        "miou_all",
        "mIoU (all classes)",
        "mean over all classes, an absent one counting 0 (PyTorch-Encoding: the convention of "
        "its reported ADE20K numbers)",
    ),
)


def format_iou_table(
    iou_per_class: Tensor,
    class_names: Sequence[str],
    title: str = "Per-class IoU (%)",
    digits: int = 2,
) -> Table:
    """Table of one row per class with its IoU in percent; "n/a" for a class never seen (NaN)."""
    if len(class_names) != len(iou_per_class):
        raise ValueError(
            f"class_names has {len(class_names)} names for {len(iou_per_class)} IoU values; "
            "pass the dataset's class names in label order."
        )
    table = Table(title=title, columns=["id", "class", "IoU"], text_columns={"class"})
    for index, (name, iou) in enumerate(zip(class_names, iou_per_class.tolist(), strict=True)):
        table.add_row(str(index), name, "n/a" if math.isnan(iou) else f"{100 * iou:.{digits}f}")
    return table


def format_summary_table(results: dict[str, Tensor], title: str = "Segmentation (%)") -> Table:
    """pixAcc and both mIoU conventions, each row saying which convention it follows."""
    table = Table(
        title=title,
        columns=["metric", "value", "convention"],
        text_columns={"metric", "convention"},
    )
    for key, label, convention in CONVENTIONS:
        table.add_row(label, f"{100 * float(results[key]):.2f}", convention)
    return table
