"""The validation of the best checkpoint after fit is logged at that checkpoint's epoch and step,
and the final table says which figures are the last epoch's and which the best checkpoint's."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from src.pipeline import train
from tests.composition import compose_train
from tests.helpers import SMALL_CLS, short_run


def test_the_best_checkpoint_row_and_column_name_its_epoch_and_step(
    tmp_path: Path,
    small_toy_imagenet_root: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's headers on one line each
    overrides = [*SMALL_CLS, *short_run(2, epochs=2), "test=true"]
    train(compose_train([*overrides, f"data.root={small_toy_imagenet_root}"], tmp_path))
    (best,) = (tmp_path / "checkpoints").glob("epoch_*.ckpt")
    checkpoint = torch.load(best, map_location="cpu", weights_only=True)
    epoch, step = checkpoint["epoch"], checkpoint["global_step"]
    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    *fit_rows, final = [row for row in rows if row["val/acc1"]]
    assert len(fit_rows) == 2 and rows[-1] is final  # one per epoch, then the final validation
    assert (int(final["epoch"]), int(final["step"])) == (epoch, step)  # not the run's last step
    (fit_row,) = [row for row in fit_rows if int(row["epoch"]) == epoch]
    assert final["val/acc1"] == fit_row["val/acc1"]  # that epoch's figures, validated again
    output = capsys.readouterr().out
    assert f"best checkpoint (epoch {epoch}, step {step})" in output
    assert "last epoch" in output
