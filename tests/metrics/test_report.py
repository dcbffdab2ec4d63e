"""The console tables: per-class IoU, the mIoU summary, and a run's final metrics."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from src.metrics.report import format_iou_table, format_summary_table
from src.runs.report import sources_table
from src.utils.table import Table


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


def test_named_text_columns_align_left_in_markdown_and_a_section_draws_a_rule() -> None:
    table = Table(title="t", columns=["id", "class", "IoU"], text_columns={"class"})
    table.add_row("0", "wall", "50.00")
    table.add_section()
    table.add_row("1", "sky", "n/a")
    assert table.to_markdown().splitlines()[3] == "| ---: | :--- | ---: |"
    console = Console(record=True, width=80)
    console.print(table)  # rich renders the table itself
    lines = console.export_text().splitlines()
    assert [i for i, line in enumerate(lines) if line.startswith("├")] == [5]
    assert "wall" in lines[4] and "sky" in lines[6]


def test_final_metrics_head_each_column_with_where_its_figures_come_from() -> None:
    best = "best checkpoint (epoch 1, step 19)"
    table = sources_table(
        {
            "last epoch": {"train/loss_epoch": 0.5, "val/acc1": 0.75},
            best: {"val/acc1": 0.875, "val/skipped": 2.0, "val/samples": 94.0},
            "unused": {},
        },
        title="train: final metrics",
    )
    assert table.columns == ["metric", "last epoch", best]  # a source without figures: no column
    assert table.rows[0] == ["train/loss_epoch", "0.5000", "—"]
    assert ["val/acc1", "0.7500", "0.8750"] in table.rows
    (note,) = table.notes  # the skipped images of the column they were skipped from
    assert note.startswith(f"{best}: val/* cover 94 images: 2 unreadable images were skipped")
