"""ImageNet-style classification with a ResNeSt backbone: the training recipe lives here."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from lightning import LightningModule
from torchmetrics.classification import MulticlassAccuracy

from src.models.backbones import backbone_from_config
from src.models.backbones.pretrained import LoadedWeights
from src.models.checkpoint_fit import check_checkpoint_fits
from src.models.mixing import mix_batch, soft_cross_entropy
from src.models.optim import decay_groups, scaled_lr
from src.models.schedules import step_scheduler, warmup_cosine
from src.models.steps import (
    TRAIN_TALLY_KEY,
    EpochTally,
    empty_step_loss,
    is_empty,
    log_counts,
    log_loss,
)


class ClassificationModule(LightningModule):
    """SGD + warmup/cosine, label smoothing, mixup/cutmix, DropBlock ramp; top-1/top-5.

    ``lr`` is the learning rate per 256 images: the optimiser uses
    ``lr * global_batch / 256`` where the global batch counts every process and accumulation.
    EMA of weights is a callback (``callbacks=ema``), so it is checkpointed with the run.
    """

    def __init__(
        self,
        backbone: dict[str, Any],
        num_classes: int,
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 5.0,
        min_lr_ratio: float = 0.0,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_switch_prob: float = 0.5,
        dropblock_ramp: float = 1.0,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.backbone = backbone_from_config(backbone, num_classes=num_classes)
        accuracy = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.train_tally = EpochTally(acc1=accuracy)
        self.val_tally = EpochTally(
            acc1=MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            acc5=MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_fits(self, checkpoint)  # one summary instead of Lightning's key lists
        if TRAIN_TALLY_KEY in checkpoint:
            self.train_tally.restore(checkpoint[TRAIN_TALLY_KEY], self.global_rank)

    @property
    def pretrained_cfg(self) -> LoadedWeights | None:
        """What the backbone was initialised from; the ImageNet datamodule follows its protocol."""
        return self.backbone.pretrained_cfg

    def configure_model(self) -> None:
        if self.hparams.channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            self.backbone.compile()  # in place: state-dict keys stay the backbone's own

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.backbone(images)

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.train_tally.start_batch(batch_idx)
        ramp_steps = self.hparams.dropblock_ramp * self.trainer.estimated_stepping_batches
        self.backbone.set_dropblock_progress(self.global_step / max(ramp_steps, 1))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        log_counts(self, self.train_tally, "train", batch)
        if is_empty(batch):
            return empty_step_loss(self, self.train_tally)
        images, soft_targets = mix_batch(
            batch["image"],
            batch["target"],
            self.hparams.num_classes,
            mixup_alpha=self.hparams.mixup_alpha,
            cutmix_alpha=self.hparams.cutmix_alpha,
            switch_prob=self.hparams.mix_switch_prob,
            smoothing=self.hparams.label_smoothing,
        )
        logits = self(images)
        loss = soft_cross_entropy(logits, soft_targets)
        accuracy = self.train_tally.metrics["acc1"]
        accuracy(logits, batch["target"])
        log_loss(self, self.train_tally, loss, batch_size=len(batch["target"]))
        self.log("train/acc1", accuracy, on_step=False, on_epoch=True)
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TRAIN_TALLY_KEY] = self.train_tally.global_state()

    def on_validation_epoch_start(self) -> None:
        self.val_tally.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        log_counts(self, self.val_tally, "val", batch)
        if is_empty(batch):
            return
        logits = self(batch["image"])
        size = len(batch["target"])
        tally = self.val_tally
        # metric objects, not logged means with sync_dist: under DDP processes may validate
        # different numbers of batches, and Lightning's synced mean then divides by an integer
        # batch count averaged (and rounded) across processes
        tally.loss(F.cross_entropy(logits, batch["target"]), weight=size)
        for metric in tally.metrics.values():
            metric(logits, batch["target"])
        self.log("val/loss", tally.loss, on_epoch=True, batch_size=size)
        self.log("val/acc1", tally.metrics["acc1"], on_epoch=True, prog_bar=True, batch_size=size)
        self.log("val/acc5", tally.metrics["acc5"], on_epoch=True, batch_size=size)

    def configure_optimizers(self) -> dict[str, Any]:
        trainer = self.trainer
        batch_size = trainer.datamodule.batch_size
        global_batch = batch_size * trainer.world_size * trainer.accumulate_grad_batches
        lr = scaled_lr(self.hparams.lr, global_batch)
        optimizer = torch.optim.SGD(
            decay_groups(self.backbone, lr, self.hparams.weight_decay),
            lr=lr,
            momentum=self.hparams.momentum,
            nesterov=self.hparams.nesterov,
        )
        total_steps = int(trainer.estimated_stepping_batches)
        warmup_steps = math.ceil(self.hparams.warmup_epochs * steps_per_epoch(trainer))
        multiplier = partial(
            warmup_cosine,
            total_steps=total_steps,
            warmup_steps=min(warmup_steps, total_steps),
            min_ratio=self.hparams.min_lr_ratio,
        )
        return {"optimizer": optimizer, "lr_scheduler": step_scheduler(optimizer, multiplier)}


def steps_per_epoch(trainer: Any) -> float:
    """Optimiser steps in one epoch (after ``limit_train_batches`` and accumulation)."""
    if not math.isfinite(trainer.num_training_batches):  # step-based runs load data lazily
        trainer.fit_loop.setup_data()
    batches = trainer.num_training_batches
    return max(batches / trainer.accumulate_grad_batches, 1.0)
