"""A few validation samples (image | ground truth | prediction) sent to every active logger.

PNG files are always written (they serve the CSV logger and anyone with a file browser);
TensorBoard gets them as images, W&B as images with interactive class masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from src.data.collate import IGNORE_INDEX
from src.visualization import denormalize, side_by_side, write_rgb


class SegmentationSamples(Callback):
    """Collect the first ``num_samples`` validation images of an epoch and log them at its end."""

    def __init__(self, dirpath: str, num_samples: int = 4) -> None:
        self.dirpath = Path(dirpath)
        self.num_samples = num_samples
        self.samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.samples = []

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or outputs is None:
            return  # outputs is None for a batch whose samples were all skipped
        datamodule = trainer.datamodule
        for image, target, prediction in zip(
            batch["image"], batch["target"], outputs["prediction"], strict=True
        ):
            if len(self.samples) >= self.num_samples:
                return
            self.samples.append(
                (
                    denormalize(image, datamodule.mean, datamodule.std),
                    target.cpu().numpy().astype(np.uint8),
                    prediction.cpu().numpy().astype(np.uint8),
                )
            )

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self.samples:
            return
        num_classes = pl_module.hparams.num_classes
        panels = [side_by_side(*sample, num_classes) for sample in self.samples]
        epoch = trainer.current_epoch
        self.dirpath.mkdir(parents=True, exist_ok=True)
        for index, panel in enumerate(panels):
            path = self.dirpath / f"epoch{epoch:03d}_sample{index}.png"
            write_rgb(path, panel)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                for index, panel in enumerate(panels):
                    logger.experiment.add_image(
                        f"val/sample{index}", panel, trainer.global_step, dataformats="HWC"
                    )
            elif isinstance(logger, WandbLogger):
                logger.experiment.log(
                    {
                        "val/samples": self._wandb_images(trainer),
                        "trainer/global_step": trainer.global_step,
                    }
                )

    def _wandb_images(self, trainer: Trainer) -> list[Any]:
        import wandb

        names = getattr(trainer.datamodule, "class_names", None) or []
        labels = {index: name for index, name in enumerate(names)} | {IGNORE_INDEX: "ignore"}
        return [
            wandb.Image(
                image,
                masks={
                    "ground_truth": {"mask_data": target, "class_labels": labels},
                    "prediction": {"mask_data": prediction, "class_labels": labels},
                },
            )
            for image, target, prediction in self.samples
        ]
