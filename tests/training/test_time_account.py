"""The time account (src/callbacks/time_account.py): a run bound by its data loading says so, and
every callbacks preset of a training run keeps the account. What a real preset run logs and prints is asserted on
the toy_cls run (tests/training/test_toy_cls_run.py)."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, Dataset

from src.callbacks.time_account import ACTIVITIES, DATA_WAIT_SHARE, EPOCH, TimeAccount, metric_name
from tests.composition import compose_train
from tests.helpers import CONFIG_DIR
from tests.log_records import messages_of

SLEEP_S = 0.03  # per training sample: far longer than the tiny model's step
TRAIN_SAMPLES = 6  # one per batch
EPOCHS = 2


class SlowSamples(Dataset):
    """Random 4-feature samples, each read ``sleep_s`` late, as from a slow disk."""

    def __init__(self, samples: int, sleep_s: float) -> None:
        self.samples, self.sleep_s = samples, sleep_s

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(self.sleep_s)
        features = torch.randn(4, generator=torch.Generator().manual_seed(index))
        return features, torch.tensor(index % 2)


class TinyClassifier(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        features, labels = batch
        return nn.functional.cross_entropy(self.linear(features), labels)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        features, labels = batch
        self.log("val/loss", nn.functional.cross_entropy(self.linear(features), labels))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _epoch_rows(metrics_csv: Path) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` that hold an epoch's time account."""
    rows = list(csv.DictReader(metrics_csv.open()))
    return [
        {name: float(value) for name, value in row.items() if value}
        for row in rows
        if row.get(metric_name(EPOCH))
    ]


def test_a_run_waiting_for_its_data_is_warned_once_and_its_epochs_account_for_the_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = L.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        callbacks=[
            TimeAccount(data_wait_warn_share=0.2),
            ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_top_k=-1),  # every epoch
        ],
        logger=CSVLogger(tmp_path, name="csv", version=""),
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    train = DataLoader(SlowSamples(TRAIN_SAMPLES, SLEEP_S), batch_size=1)
    val = DataLoader(SlowSamples(2, 0.0), batch_size=2)
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="src.callbacks.time_account"):
        trainer.fit(TinyClassifier(), train, val)
    fit_wall = time.perf_counter() - started

    (warning,) = messages_of(caplog, "src.callbacks.time_account")  # once, not every epoch
    assert "Epoch 0 waited" in warning and "data.num_workers (now 0)" in warning
    assert "callbacks.time_account.data_wait_warn_share=0.2" in warning
    epochs = _epoch_rows(Path(trainer.logger.log_dir) / "metrics.csv")
    assert [row["epoch"] for row in epochs] == list(range(EPOCHS))
    for row in epochs:
        parts = [row[metric_name(activity)] for activity in ACTIVITIES]
        assert min(parts) >= 0
        assert sum(parts) == pytest.approx(row[metric_name(EPOCH)], rel=1e-6)
        # every sample's sleep is waited for between steps (a sanity bound, not a speed figure)
        assert row[metric_name("data_wait")] > 0.5 * SLEEP_S * TRAIN_SAMPLES
        assert row[metric_name(DATA_WAIT_SHARE)] > 0.5
        assert row[metric_name("val")] > 0 and row[metric_name("checkpoint")] > 0
    assert sum(row[metric_name(EPOCH)] for row in epochs) <= fit_wall
    assert not vars(trainer).get("save_checkpoint")  # the timed save is the trainer's no more


def test_data_wait_warn_share_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"callbacks.time_account.data_wait_warn_share=1.5"):
        TimeAccount(data_wait_warn_share=1.5)


# The callbacks presets a training run picks (the files that gather callbacks); `none` is the
# evaluation's, which trains nothing.
CALLBACK_PRESETS = sorted(
    path.stem
    for path in (CONFIG_DIR / "callbacks").glob("*.yaml")
    if "defaults" in (yaml.safe_load(path.read_text()) or {})
)


def test_the_callbacks_presets_are_found() -> None:
    assert {"default", "segmentation"} <= set(CALLBACK_PRESETS)


@pytest.mark.parametrize("preset", CALLBACK_PRESETS)
def test_every_callbacks_preset_keeps_the_time_account(preset: str, tmp_path: Path) -> None:
    cfg = compose_train([f"callbacks={preset}"], tmp_path)
    assert cfg.callbacks.time_account._target_ == "src.callbacks.time_account.TimeAccount"
