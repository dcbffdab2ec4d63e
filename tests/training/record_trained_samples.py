"""A callback that notes every sample a training step takes, as the step starts: its global
step, epoch, label and a digest of its augmented image. Augmentation is a function of (seed,
epoch, sample), so within an epoch the digest names a sample as seen by the model; unlike a
note written where a file is decoded, it leaves out what loader workers decoded ahead but no
step used."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from lightning import Callback, LightningModule, Trainer


class TrainedSample(NamedTuple):
    step: int
    epoch: int
    label: int
    digest: str


class RecordTrainedSamples(Callback):
    """Appends a line per sample of each training batch to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        with self.path.open("a") as notes:
            for image, label in zip(batch["image"], batch["target"], strict=True):
                digest = hashlib.sha256(image.cpu().numpy().tobytes()).hexdigest()[:20]
                notes.write(
                    f"{trainer.global_step} {trainer.current_epoch} {int(label)} {digest}\n"
                )


def read_trained(path: Path) -> list[TrainedSample]:
    """The samples noted in ``path``, in the order they were trained."""
    samples = []
    for line in path.read_text().splitlines():
        step, epoch, label, digest = line.split()
        samples.append(TrainedSample(int(step), int(epoch), int(label), digest))
    return samples
