"""End-to-end section: training steps/s through Lightning's Trainer against a bare PyTorch loop.

Both sides train the same backbone (same initial weights) on the same in-memory batches, with
the optimiser, schedule and loss of ``ClassificationModule``; the Lightning side runs the
module itself. The difference is what the Trainer and the module add per step: the loop and
its hooks, the DropBlock ramp, the accuracy metric and ``self.log``. Each run times its steps
after a few warm ones, from the end of one step to the end of the last, so both windows
include fetching the batches and neither includes the run's setup.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra import compose, initialize_config_dir
from lightning import Callback, LightningDataModule, LightningModule, Trainer
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset

from scripts.bench.timing import Candidate, Measurement, device_sync, measure_interleaved
from src.data.collate import CollateSamples, Sample
from src.data.loaders import make_loader
from src.data.samplers import SampleKey
from src.tasks.classification_module import ClassificationModule
from src.tasks.mixing import mix_batch, soft_cross_entropy
from src.utils.table import Table, fmt

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
NUM_CLASSES = 10
WARM_STEPS = 2  # untimed steps at the start of every run (iterator and allocator warm-up)
BASELINE = "bare PyTorch loop"
LIGHTNING = "Lightning Trainer + ClassificationModule"


class RandomImages(Dataset):
    """Fixed random images and labels held in memory, so decoding costs nothing."""

    def __init__(self, count: int, image_size: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(count, 3, image_size, image_size, generator=generator)
        self.targets = torch.randint(0, NUM_CLASSES, (count,), generator=generator).tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, key: int | SampleKey) -> Sample:
        index = key.index if isinstance(key, SampleKey) else int(key)  # no augmentation to seed
        return Sample(image=self.images[index], target=self.targets[index])


def train_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    """The project's training loader, in this process (no workers)."""
    return make_loader(
        dataset,
        batch_size=batch_size,
        train=True,
        seed=0,
        trainer=None,
        num_workers=0,
        pin_memory=True,
        persistent_workers=False,
        collate=CollateSamples(segmentation=False),
    )


class InMemoryDataModule(LightningDataModule):
    """Serves :class:`RandomImages`; ``batch_size`` is what the module's LR scaling reads."""

    def __init__(self, dataset: Dataset, batch_size: int) -> None:
        super().__init__()
        self.dataset = dataset
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.dataset, self.batch_size)


class StepClock(Callback):
    """Seconds from the end of the last warm step to the end of the last step of a fit."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.start = math.nan
        self.end = math.nan

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        self.sync()
        now = time.perf_counter()
        if trainer.global_step == WARM_STEPS:
            self.start = now
        self.end = now


def lightning_run(
    module: LightningModule, data: InMemoryDataModule, steps: int, device: torch.device
) -> float:
    """Fit one epoch (``data`` holds ``WARM_STEPS + steps`` batches); time the last ``steps``.

    An epoch rather than ``max_steps``: ``ClassificationModule.configure_optimizers`` reads the
    epoch length from the train loader, which Lightning loads early only for epoch-based runs.
    """
    clock = StepClock(device_sync(device))
    trainer = Trainer(
        accelerator=device.type,
        devices=1,
        max_epochs=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(module, datamodule=data)
    return clock.end - clock.start


def bare_run(
    module: ClassificationModule,
    dataset: Dataset,
    batch_size: int,
    steps: int,
    device: torch.device,
) -> float:
    """The same training steps as ``ClassificationModule.training_step`` in a plain loop, with
    the module's own optimiser and schedule (the run is one epoch)."""
    sync = device_sync(device)
    total = WARM_STEPS + steps
    backbone, hparams = module.backbone, module.hparams
    optimizer, multiplier = module.optimization(batch_size, total, epoch_steps=total)
    scheduler = LambdaLR(optimizer, multiplier)
    backbone.train()
    start = math.nan
    for step, batch in enumerate(train_loader(dataset, batch_size), start=1):
        images, soft_targets = mix_batch(
            batch["image"].to(device),
            batch["target"].to(device),
            hparams.num_classes,
            mixup_alpha=hparams.mixup_alpha,
            cutmix_alpha=hparams.cutmix_alpha,
            switch_prob=hparams.mix_switch_prob,
            smoothing=hparams.label_smoothing,
        )
        loss = soft_cross_entropy(backbone(images), soft_targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step == WARM_STEPS:
            sync()
            start = time.perf_counter()
    sync()
    return time.perf_counter() - start


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's per-fit banners and advice that repeats on every fit of the run."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*have no `val_dataloader`.*")
            warnings.filterwarnings("ignore", message=".*infer the `batch_size`.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def configured_module(name: str) -> ClassificationModule:
    """``ClassificationModule`` as ``model=classification`` configures it, on backbone ``name``."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"model.backbone.name={name}", f"model.num_classes={NUM_CLASSES}"]
        )
    return hydra.utils.instantiate(cfg.model)


def e2e_section(
    name: str,
    batch: int,
    image_size: int,
    steps: int,
    repeats: int,
    warmup: int,
    device: torch.device,
) -> list[Table]:
    """Steps/s of the Lightning loop and the bare loop, and Lightning's overhead in percent."""
    torch.manual_seed(0)
    module = configured_module(name)
    bare = copy.deepcopy(module).to(device)
    dataset = RandomImages(batch * (WARM_STEPS + steps), image_size)
    data = InMemoryDataModule(dataset, batch)
    candidates = [
        Candidate(
            BASELINE,
            lambda: bare_run(bare, dataset, batch, steps, device),
            steps,
            self_timed=True,
        ),
        Candidate(
            LIGHTNING, lambda: lightning_run(module, data, steps, device), steps, self_timed=True
        ),
    ]
    with _quiet_lightning():
        results = measure_interleaved(candidates, repeats, warmup, min_sample_s=0.0)
    return [_table(results, name, batch, image_size, steps, device)]


def _table(
    results: dict[str, Measurement],
    name: str,
    batch: int,
    image_size: int,
    steps: int,
    device: torch.device,
) -> Table:
    table = Table(
        title=f"End to end: training loop ({name}, batch {batch}, {image_size} px, {device.type})",
        columns=["loop", "steps/s", "img/s", "ms/step", "overhead %", "spread %"],
    )
    bare = results[BASELINE]
    for result in results.values():
        if result.failure:
            table.add_unmeasured(result.name, "failed", result.failure)
            continue
        overhead = None if bare.failure else 100 * (result.median_s / bare.median_s - 1)
        table.add_row(
            result.name,
            fmt(result.rate, 2),
            fmt(result.rate * batch, 1),
            fmt(1000 / result.rate, 1),
            fmt(overhead, 1),
            fmt(100 * result.spread, 0),
        )
    table.notes += [
        f"{steps} timed steps per run after {WARM_STEPS} warm ones; in-memory data through the "
        "project's loader (num_workers=0), so the loops themselves are compared.",
        "Lightning: enable_progress_bar=False, logger=False, enable_checkpointing=False. "
        "Overhead = Trainer loop + hooks + the module's metric update and self.log, per step.",
    ]
    return table
