"""The model table prints the figures the paper publishes for ResNeSt-50."""

from __future__ import annotations

import pytest

from scripts.model_table import main
from src.models.backbones import VARIANTS


def markdown_rows(text: str) -> dict[str, dict[str, str]]:
    """Rows of a printed Markdown table, keyed by their first cell, as ``{column: cell}``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


@pytest.mark.slow
def test_resnest50_shows_5_37_gmacs_and_27_48m_params(capsys: pytest.CaptureFixture) -> None:
    main(["--markdown"])
    rows = markdown_rows(capsys.readouterr().out)
    assert set(rows) == set(VARIANTS)
    resnest50 = rows["resnest50"]
    assert resnest50["GMACs @ 224"] == "5.37"
    assert resnest50["params (M)"] == "27.48"
    assert resnest50["top-1 (%)"] == "81.03"


@pytest.mark.slow
def test_eval_crop_counts_differ_from_224_for_the_larger_models(
    capsys: pytest.CaptureFixture,
) -> None:
    main(["--markdown"])
    resnest269 = markdown_rows(capsys.readouterr().out)["resnest269"]
    assert resnest269["eval crop"] == "416"
    assert float(resnest269["GMACs @ crop"]) > 3 * float(resnest269["GMACs @ 224"])
