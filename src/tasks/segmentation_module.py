"""Semantic segmentation (DeepLabV3 / FCN on a dilated ResNeSt): the PyTorch-Encoding recipe."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import rich
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn

from src.data.collate import IGNORE_INDEX
from src.metrics.report import format_iou_table, format_summary_table
from src.metrics.segmentation import SegmentationMetrics
from src.models.backbones.factory import BackboneNode
from src.models.inference import InferenceConfig, segment
from src.models.segmentation_weights import load_segmentation_weights
from src.models.segmentation_zoo import zoo_entry
from src.models.segmentor import Segmentor
from src.tasks.steps import EpochTally, empty_step_loss, is_empty, log_counts, log_loss
from src.tasks.task_module import LRPart, LRScheduleNode, OptimizerNode, TaskModule
from src.utils.config_types import Supplies

# a decode head class partially applied by the config; the module adds the input channels and
# the class count
HeadNode = Annotated[Callable[..., nn.Module], Supplies("in_channels", "num_classes")]


class SegmentationModule(TaskModule):
    """Cross-entropy (ignoring ``ignore_index``) + weighted auxiliary loss, heads at
    ``head_lr_mult`` x LR; dataset-level pixAcc / mIoU from one confusion matrix; the optimiser
    and the LR schedule (by default SGD, poly per iteration) come from the config.

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
        backbone: BackboneNode,
        num_classes: int,
        decode_head: HeadNode,
        optimizer: OptimizerNode,
        lr_schedule: LRScheduleNode,
        aux_head: HeadNode | None = None,
        aux_weight: float = 0.2,
        align_corners: bool = True,
        ignore_index: int = IGNORE_INDEX,
        lr: float = 0.01,
        lr_reference_batch: int = 16,
        head_lr_mult: float = 10.0,
        weight_decay: float = 1e-4,
        decay_norm_and_bias: bool = True,
        inference: dict[str, Any] | None = None,
        channels_last: bool = False,
        compile: bool = False,
        fold_batchnorm: bool = True,
        pretrained: str | None = None,
    ) -> None:
        super().__init__(optimizer, lr_schedule)
        nodes = {"backbone": backbone, "decode_head": decode_head, "aux_head": aux_head}
        self.save_hyperparameters(ignore=["optimizer", "lr_schedule", *nodes])
        self.record_config_nodes(optimizer=optimizer, lr_schedule=lr_schedule, **nodes)
        # a whole-model file replaces the backbone's ImageNet weights: not loaded first
        encoder = backbone(num_classes=0, **({"pretrained": None} if pretrained else {}))
        channels = [info["num_chs"] for info in encoder.feature_info]
        decoder = decode_head(in_channels=channels, num_classes=num_classes)
        auxiliary = aux_head(in_channels=channels, num_classes=num_classes) if aux_head else None
        self.model = Segmentor(encoder, decoder, auxiliary, align_corners=align_corners)
        # the data's names of the classes, for the per-class tables (the entry point's join)
        self.class_names: list[str] | None = None
        if pretrained:
            load_segmentation_weights(self.model, pretrained)
        # the zoo model the weights are (with its reported figures), for the evaluation report
        self.pretrained_zoo = zoo_entry(Path(pretrained)) if pretrained else None
        self.inference = InferenceConfig(**(inference or {}), align_corners=align_corners)
        self.val_metrics = SegmentationMetrics(num_classes, ignore_index=ignore_index)
        self.train_tally, self.val_tally = EpochTally(), EpochTally()

    @property
    def network(self) -> nn.Module:
        return self.model

    def lr_parts(self) -> list[LRPart]:
        heads = [("head_", self.model.decode_head), ("aux_", self.model.aux_head)]
        return [("backbone_", self.model.backbone, 1.0)] + [
            (prefix, head, self.hparams.head_lr_mult) for prefix, head in heads if head is not None
        ]

    def loss(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        ce = partial(F.cross_entropy, ignore_index=self.hparams.ignore_index)
        loss = ce(outputs["out"], target)
        if "aux" in outputs:
            loss = loss + self.hparams.aux_weight * ce(outputs["aux"], target)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        log_counts(self, self.train_tally, "train", batch)
        if is_empty(batch):
            return empty_step_loss(self, self.train_tally)
        loss = self.loss(self(batch["image"]), batch["target"])
        log_loss(self, self.train_tally, loss, batch_size=len(batch["target"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
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
        names = self.class_names or [str(i) for i in range(self.hparams.num_classes)]
        rich.print(format_iou_table(iou_per_class, names))
        for logger in self.loggers:
            if isinstance(logger, WandbLogger):
                rows = [
                    [i, name, float(iou)]
                    for i, (name, iou) in enumerate(zip(names, iou_per_class, strict=True))
                ]
                logger.log_table("val/iou_per_class", columns=["id", "class", "iou"], data=rows)
