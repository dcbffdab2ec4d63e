"""The per-class IoU and summary console tables."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from src.metrics.report import format_iou_table, format_summary_table


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


def test_summary_names_the_miou_convention_of_each_number() -> None:
    results = {k: torch.tensor(v) for k, v in (("pixacc", 0.8), ("miou", 0.5), ("miou_all", 0.25))}
    console = Console(record=True, width=200)
    console.print(format_summary_table(results))
    lines = console.export_text().splitlines()
    assert any(
        "mIoU (all classes)" in line and "25.00" in line and "PyTorch-Encoding" in line
        for line in lines
    )
    assert any("50.00" in line and "mmsegmentation" in line for line in lines)
    assert any("pixAcc" in line and "80.00" in line for line in lines)
