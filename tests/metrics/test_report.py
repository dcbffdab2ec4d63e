"""The per-class IoU console table."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from src.metrics.report import format_iou_table


def test_table_lists_classes_in_percent_and_marks_unseen_ones() -> None:
    table = format_iou_table(torch.tensor([0.5, float("nan")]), ["wall", "sky"])
    console = Console(record=True, width=80)
    console.print(table)
    text = console.export_text()
    assert "wall" in text and "50.00" in text
    assert "sky" in text and "n/a" in text


def test_name_count_must_match() -> None:
    with pytest.raises(ValueError, match="class_names has 1 names for 2"):
        format_iou_table(torch.tensor([0.5, 0.1]), ["wall"])
