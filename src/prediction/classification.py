"""A classifier's predictions for a folder: the ``top_k`` classes of every image in one CSV.

``predictions.csv`` has a row per image and rank: ``file`` (the name in the folder), ``rank``
(1 = most likely), ``class_index``, ``class_name`` (empty where the names are unknown) and
``probability`` (softmax over all classes).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from src.prediction.folder import FolderImages

log = logging.getLogger(__name__)

CSV_NAME = "predictions.csv"
COLUMNS = ("file", "rank", "class_index", "class_name", "probability")


@torch.no_grad()
def classify_folder(
    model: nn.Module,
    transform: Callable[..., dict],
    images: FolderImages,
    target: Path,
    top_k: int,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write ``target/predictions.csv`` for every readable image; its path."""
    if top_k < 1:
        raise ValueError(f"top_k={top_k} must be at least 1")
    target.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    table = target / CSV_NAME
    with table.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for path, rgb in images:
            tensor = transform(image=rgb)["image"].unsqueeze(0).to(device)
            probabilities = model(tensor)[0].float().softmax(dim=0).cpu()
            best = probabilities.topk(min(top_k, len(probabilities)))
            for rank, (probability, index) in enumerate(
                zip(best.values.tolist(), best.indices.tolist(), strict=True), start=1
            ):
                name = class_names[index] if class_names else ""
                writer.writerow([path.name, rank, index, name, f"{probability:.6f}"])
            log.info("%s -> class %d (%.3f)", path.name, best.indices[0], best.values[0])
    return table
