"""Semantic segmentation (DeepLabV3 / FCN on a dilated ResNeSt): the PyTorch-Encoding recipe."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import rich
import torch
import torch.nn.functional as F
from lightning import LightningModule
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn

from src.data.collate import IGNORE_INDEX
from src.metrics.report import format_iou_table, format_summary_table
from src.metrics.segmentation import SegmentationMetrics
from src.models.backbones import backbone_from_config
from src.models.checkpoint_fit import check_checkpoint_fits
from src.models.inference import InferenceConfig, segment
from src.models.optim import decay_groups, scaled_lr
from src.models.schedules import poly, step_scheduler
from src.models.segmentation_weights import load_segmentation_weights
from src.models.segmentation_zoo import zoo_entry
from src.models.segmentor import Segmentor
from src.models.steps import (
    TRAIN_TALLY_KEY,
    EpochTally,
    empty_step_loss,
    is_empty,
    log_counts,
    log_loss,
)

HeadFactory = Callable[..., nn.Module]


class SegmentationModule(LightningModule):
    """Cross-entropy (ignoring ``ignore_index``) + weighted auxiliary loss; SGD, heads at ``head_lr_mult`` x LR,
    poly schedule per iteration; dataset-level pixAcc / mIoU from one confusion matrix.

    ``decode_head`` and ``aux_head`` are partially-applied head classes (Hydra ``_partial_``):
    this module supplies ``in_channels`` from the backbone's ``feature_info`` and
    ``num_classes``. ``lr`` is for ``lr_reference_batch`` images (16 in PyTorch-Encoding) and
    follows the global batch linearly. ``pretrained`` initialises the whole model (backbone and
    heads) from a weights file: this project's checkpoint or a PyTorch-Encoding zoo / training
    file (see :mod:`src.models.segmentation_weights`). ``inference`` picks how validation
    predicts (whole image, sliding window, multi-scale + flip, PyTorch-Encoding's rule), see
    :class:`src.models.inference.InferenceConfig`.
    """

    def __init__(
        self,
        backbone: dict[str, Any],
        num_classes: int,
        decode_head: HeadFactory,
        aux_head: HeadFactory | None = None,
        aux_weight: float = 0.2,
        align_corners: bool = False,
        ignore_index: int = IGNORE_INDEX,
        lr: float = 0.004,
        lr_reference_batch: int = 16,
        head_lr_mult: float = 10.0,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        decay_norm_and_bias: bool = True,
        poly_power: float = 0.9,
        warmup_iters: int = 0,
        inference: dict[str, Any] | None = None,
        channels_last: bool = False,
        compile: bool = False,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["decode_head", "aux_head"])
        if pretrained:  # the whole model comes from the file: no ImageNet backbone weights
            backbone = {**backbone, "pretrained": None}
        encoder = backbone_from_config(backbone, num_classes=0)
        channels = [info["num_chs"] for info in encoder.feature_info]
        decoder = decode_head(in_channels=channels, num_classes=num_classes)
        auxiliary = aux_head(in_channels=channels, num_classes=num_classes) if aux_head else None
        self.model = Segmentor(encoder, decoder, auxiliary, align_corners=align_corners)
        if pretrained:
            load_segmentation_weights(self.model, pretrained)
        # the zoo model the weights are (with its reported figures), for the evaluation report
        self.pretrained_zoo = zoo_entry(Path(pretrained)) if pretrained else None
        self.inference = InferenceConfig(**(inference or {}), align_corners=align_corners)
        self.val_metrics = SegmentationMetrics(num_classes, ignore_index=ignore_index)
        self.train_tally, self.val_tally = EpochTally(), EpochTally()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_fits(self, checkpoint)  # one summary instead of Lightning's key lists
        if TRAIN_TALLY_KEY in checkpoint:
            self.train_tally.restore(checkpoint[TRAIN_TALLY_KEY], self.global_rank)

    def configure_model(self) -> None:
        if self.hparams.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            self.model.backbone.compile()

    def forward(self, images: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def loss(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        ce = partial(F.cross_entropy, ignore_index=self.hparams.ignore_index)
        loss = ce(outputs["out"], target)
        if "aux" in outputs:
            loss = loss + self.hparams.aux_weight * ce(outputs["aux"], target)
        return loss

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.train_tally.start_batch(batch_idx)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        log_counts(self, self.train_tally, "train", batch)
        if is_empty(batch):
            return empty_step_loss(self, self.train_tally)
        loss = self.loss(self(batch["image"]), batch["target"])
        log_loss(self, self.train_tally, loss, batch_size=len(batch["target"]))
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TRAIN_TALLY_KEY] = self.train_tally.global_state()

    def on_validation_epoch_start(self) -> None:
        self.val_tally.reset()
        self.val_metrics.reset()  # see EpochTally.reset

    def validation_step(
        self, batch: dict[str, Any], batch_idx: int
    ) -> dict[str, torch.Tensor] | None:
        log_counts(self, self.val_tally, "val", batch)
        if is_empty(batch):
            return None
        scores = segment(self, batch["image"], self.hparams.num_classes, self.inference)
        prediction = scores.argmax(dim=1)
        self.val_metrics.update(prediction, batch["target"])
        return {"prediction": prediction}

    def on_validation_epoch_end(self) -> None:
        results = self.val_metrics.compute()
        self.val_metrics.reset()
        for name in ("miou", "pixacc", "miou_all"):
            self.log(f"val/{name}", results[name], prog_bar=name == "miou", sync_dist=False)
        if self.trainer.state.fn == TrainerFn.VALIDATING and self.trainer.is_global_zero:
            self.report_per_class(results["iou_per_class"].cpu())
            rich.print(format_summary_table(results))

    def report_per_class(self, iou_per_class: torch.Tensor) -> None:
        """Per-class IoU as a console table, and as a table in W&B when it is logging.

        Only for standalone validation (evaluation, and the final check of the best checkpoint),
        not every epoch of training: 150 rows per epoch would drown the progress output.
        """
        names = getattr(self.trainer.datamodule, "class_names", None) or [
            str(i) for i in range(self.hparams.num_classes)
        ]
        rich.print(format_iou_table(iou_per_class, names))
        for logger in self.loggers:
            if isinstance(logger, WandbLogger):
                rows = [
                    [i, name, float(iou)]
                    for i, (name, iou) in enumerate(zip(names, iou_per_class, strict=True))
                ]
                logger.log_table("val/iou_per_class", columns=["id", "class", "iou"], data=rows)

    def configure_optimizers(self) -> dict[str, Any]:
        trainer = self.trainer
        global_batch = (
            trainer.datamodule.batch_size * trainer.world_size * trainer.accumulate_grad_batches
        )
        lr = scaled_lr(self.hparams.lr, global_batch, self.hparams.lr_reference_batch)
        decay = self.hparams.weight_decay
        groups = [
            *decay_groups(
                self.model.backbone, lr, decay, "backbone_", self.hparams.decay_norm_and_bias
            ),
            *decay_groups(
                self.model.decode_head,
                lr * self.hparams.head_lr_mult,
                decay,
                "head_",
                self.hparams.decay_norm_and_bias,
            ),
        ]
        if self.model.aux_head is not None:
            groups += decay_groups(
                self.model.aux_head,
                lr * self.hparams.head_lr_mult,
                decay,
                "aux_",
                self.hparams.decay_norm_and_bias,
            )
        optimizer = torch.optim.SGD(groups, lr=lr, momentum=self.hparams.momentum)
        multiplier = partial(
            poly,
            total_steps=int(trainer.estimated_stepping_batches),
            power=self.hparams.poly_power,
            warmup_steps=self.hparams.warmup_iters,
        )
        return {"optimizer": optimizer, "lr_scheduler": step_scheduler(optimizer, multiplier)}
