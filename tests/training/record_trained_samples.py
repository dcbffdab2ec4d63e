"""A callback that notes every sample a training step takes, as the step starts: its global
step, epoch and a digest of its augmented image and its target (class index or label map).
Augmentation is a function of (seed, epoch, sample), so within an epoch the digest names a
sample as the model saw it; unlike a note written where a file is decoded, it leaves out what
loader workers decoded ahead but no step used."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from lightning import Callback, LightningModule, Trainer


def recording_to(path: Path) -> list[str]:
    """The overrides that add this callback to a run, noting into ``path``."""
    return [
        f"+callbacks.record._target_={__name__}.RecordTrainedSamples",
        f"+callbacks.record.path={path}",
    ]


class TrainedSample(NamedTuple):
    step: int
    epoch: int
    digest: str


class RecordTrainedSamples(Callback):
    """Appends a line per sample of each training batch to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        with self.path.open("a") as notes:
            for image, target in zip(batch["image"], batch["target"], strict=True):
                digest = hashlib.sha256(image.cpu().numpy().tobytes())
                digest.update(target.cpu().numpy().tobytes())
                notes.write(f"{trainer.global_step} {trainer.current_epoch} {digest.hexdigest()}\n")


def read_trained(path: Path) -> list[TrainedSample]:
    """The samples noted in ``path``, in the order they were trained."""
    samples = []
    for line in path.read_text().splitlines():
        step, epoch, digest = line.split()
        samples.append(TrainedSample(int(step), int(epoch), digest))
    return samples


def digests_per_epoch(path: Path) -> dict[int, list[str]]:
    """The digests noted in ``path`` by epoch, in training order."""
    epochs: dict[int, list[str]] = {}
    for sample in read_trained(path):
        epochs.setdefault(sample.epoch, []).append(sample.digest)
    return epochs
