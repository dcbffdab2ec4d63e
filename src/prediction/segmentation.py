"""A segmentor's predictions for a folder: per image a colourised mask, the image beside the mask
blended over it, and on request the per-class score maps.

For ``name.jpg``: ``name_mask.png`` (one colour per class, the palette of the validation
samples, at the image's own size), ``name_overlay.png`` (image | mask over the image) and, with
``save_scores``, ``name_scores.npz``: ``scores``, K x h x w float32 at the size the model was run
at (``data.val_resize``), as :func:`src.models.inference.segment` combines them (``combine``:
softmax probabilities, or PyTorch-Encoding's summed ``exp`` scores, whose argmax alone is
meaningful).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from src.models.inference import InferenceConfig, segment
from src.prediction.folder import FolderImages
from src.visualization import colorize, overlay, write_rgb

log = logging.getLogger(__name__)


@torch.no_grad()
def segment_folder(
    model: nn.Module,
    transform: Callable[..., dict],
    inference: InferenceConfig,
    num_classes: int,
    images: FolderImages,
    target: Path,
    save_scores: bool = False,
) -> list[Path]:
    """Write the mask, the overlay (and the scores) of every readable image; the masks."""
    target.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    written = []
    for path, rgb in images:
        tensor = transform(image=rgb)["image"].unsqueeze(0).to(device)
        scores = segment(model, tensor, num_classes, inference)[0].cpu()
        labels = scores.argmax(dim=0).byte().numpy()
        labels = cv2.resize(labels, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        mask_path = target / f"{path.stem}_mask.png"
        write_rgb(mask_path, colorize(labels, num_classes))
        panel = np.concatenate([rgb, overlay(rgb, labels, num_classes)], axis=1)
        write_rgb(target / f"{path.stem}_overlay.png", panel)
        if save_scores:
            np.savez_compressed(
                target / f"{path.stem}_scores.npz",
                scores=scores.float().numpy(),
                combine=np.str_(inference.combine),
            )
        written.append(mask_path)
        log.info("%s -> %s", path.name, mask_path.name)
    return written
