"""ImageNet-style classification with a ResNeSt backbone: the training recipe lives here."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from src.data.eval_protocol import EvalProtocol
from src.models.backbones.factory import BackboneNode
from src.models.backbones.pretrained import LoadedWeights
from src.tasks.mixing import mix_batch, soft_cross_entropy
from src.tasks.optim import REFERENCE_BATCH
from src.tasks.steps import EpochTally, empty_step_loss, is_empty, log_counts, log_loss
from src.tasks.task_module import LRPart, LRScheduleNode, OptimizerNode, TaskModule


class ClassificationModule(TaskModule):
    """Label smoothing, mixup/cutmix, DropBlock ramp; top-1/top-5; the optimiser and the LR
    schedule (by default SGD, warmup + cosine) come from the config.

    ``lr`` is the learning rate per ``lr_reference_batch`` (256) images, scaled by the global
    batch (see :class:`src.tasks.task_module.TaskModule`). EMA of weights is a callback
    (``callbacks=ema``), so it is checkpointed with the run.
    """

    def __init__(
        self,
        backbone: BackboneNode,
        num_classes: int,
        optimizer: OptimizerNode,
        lr_schedule: LRScheduleNode,
        lr: float = 0.1,
        lr_reference_batch: int = REFERENCE_BATCH,
        weight_decay: float = 1e-4,
        decay_norm_and_bias: bool = False,
        label_smoothing: float = 0.1,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_switch_prob: float = 0.5,
        dropblock_ramp: float = 1.0,
        channels_last: bool = False,
        compile: bool = False,
        fold_batchnorm: bool = True,
    ) -> None:
        super().__init__(optimizer, lr_schedule)
        self.save_hyperparameters(ignore=["backbone", "optimizer", "lr_schedule"])
        self.record_config_nodes(optimizer=optimizer, lr_schedule=lr_schedule, backbone=backbone)
        self.backbone = backbone(num_classes=num_classes)
        accuracy = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.train_tally = EpochTally(acc1=accuracy)
        self.val_tally = EpochTally(
            acc1=MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            acc5=MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
        )

    @property
    def network(self) -> nn.Module:
        return self.backbone

    def lr_parts(self) -> list[LRPart]:
        return [("", self.backbone, 1.0)]

    @property
    def pretrained_cfg(self) -> LoadedWeights | None:
        """What the backbone was initialised from; the ImageNet datamodule follows its protocol."""
        return self.backbone.pretrained_cfg

    def weights_protocol(self) -> tuple[EvalProtocol | None, str]:
        """How the loaded weights' reported accuracy was measured, and a name for them in
        messages: for the data to follow (released weights only; others have no such record)."""
        loaded = self.pretrained_cfg
        if loaded is None or loaded.info is None:
            return None, ""
        return loaded.info.protocol, f"the {loaded.name} weights ({loaded.path.name})"

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        super().on_train_batch_start(batch, batch_idx)
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
