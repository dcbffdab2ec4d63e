"""Batch assembly shared by the datamodules.

Every batch is a dict with exactly the keys of :class:`Batch`, whether or not samples were
skipped, so training and evaluation code has one format to handle:

- ``image``: float32 ``(B, 3, H, W)``, normalised;
- ``target``: int64 ``(B,)`` class indices, or ``(B, H, W)`` labels with 255 = ignore;
- ``num_skipped``: how many samples of this batch were dropped as corrupt
  (``data.on_corrupt=skip``). B is the batch size minus that count, so in the rare case
  that every sample was dropped B is 0 and the step should be skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import torch

IGNORE_INDEX = 255


class Sample(TypedDict):
    """One loaded sample: a normalised CHW image and its class index or label map."""

    image: torch.Tensor
    target: int | torch.Tensor


class Batch(TypedDict):
    """A collated batch; see the module docstring for shapes and meaning."""

    image: torch.Tensor
    target: torch.Tensor
    num_skipped: int


@dataclass(frozen=True)
class CollateSamples:
    """Collate samples (None = skipped) into a :class:`Batch`.

    ``segmentation`` selects ``(B, H, W)`` label targets instead of ``(B,)`` indices.
    ``image_pad`` (per-channel, in normalised units) lets samples of different sizes share a
    batch: images are padded at the bottom/right with it and labels with ``IGNORE_INDEX``.
    Without it, all samples must have the same size.
    """

    segmentation: bool
    image_pad: tuple[float, float, float] | None = None

    def __call__(self, samples: Sequence[Sample | None]) -> Batch:
        kept = [sample for sample in samples if sample is not None]
        num_skipped = len(samples) - len(kept)
        if not kept:
            return Batch(
                image=torch.empty(0, 3, 0, 0),
                target=torch.empty((0, 0, 0) if self.segmentation else (0,), dtype=torch.int64),
                num_skipped=num_skipped,
            )
        images = [sample["image"] for sample in kept]
        if not self.segmentation:
            targets = torch.tensor([sample["target"] for sample in kept], dtype=torch.int64)
            return Batch(image=torch.stack(images), target=targets, num_skipped=num_skipped)
        labels = [torch.as_tensor(sample["target"]).long() for sample in kept]
        if self.image_pad is None:
            return Batch(
                image=torch.stack(images), target=torch.stack(labels), num_skipped=num_skipped
            )
        return self._padded(images, labels, num_skipped)

    def _padded(
        self, images: list[torch.Tensor], labels: list[torch.Tensor], num_skipped: int
    ) -> Batch:
        height = max(image.shape[1] for image in images)
        width = max(image.shape[2] for image in images)
        batch_images = torch.tensor(self.image_pad, dtype=torch.float32).view(1, 3, 1, 1)
        batch_images = batch_images.repeat(len(images), 1, height, width)
        batch_labels = torch.full((len(images), height, width), IGNORE_INDEX, dtype=torch.int64)
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            batch_images[index, :, : image.shape[1], : image.shape[2]] = image
            batch_labels[index, : label.shape[0], : label.shape[1]] = label
        return Batch(image=batch_images, target=batch_labels, num_skipped=num_skipped)
