"""Segment a folder of images with a trained checkpoint: colourised masks and overlays.

    python scripts/predict.py logs/train/runs/<time>/checkpoints/last.ckpt photos/ out/
    python scripts/predict.py CKPT IN OUT --scales 0.5 0.75 1.0 1.25 1.5 1.75 --flip

The model is rebuilt from the run's own ``config_resolved.yaml`` (next to ``checkpoints/``), so
predictions use exactly the architecture, class count and evaluation size it was trained with.
For each image ``name.jpg`` it writes ``name_mask.png`` (one colour per class, the palette of the
validation samples) and ``name_overlay.png`` (image | mask blended over the image). An image that
cannot be read is reported once and the others are still segmented; the script then prints how
many failed and exits 1 (``--on-corrupt error`` stops at the first one instead).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

if not __package__:  # run as a file, not as the module scripts.predict: the root on sys.path
    import project_root  # noqa: F401  (scripts/project_root.py)

from src.data.ade20k import val_transform
from src.data.corrupt import ON_CORRUPT_CHOICES
from src.data.image_io import CorruptSampleError, is_image_file, read_rgb
from src.models.inference import InferenceConfig, segment
from src.models.segmentation_module import SegmentationModule
from src.pipeline import load_trained
from src.visualization import colorize, overlay

log = logging.getLogger("predict")


def load_model(checkpoint: Path, config_path: Path | None) -> tuple[SegmentationModule, DictConfig]:
    """The run's segmentation model with the checkpoint's weights."""
    model, cfg = load_trained(checkpoint, config_path)
    if not isinstance(model, SegmentationModule):
        raise ValueError(f"{checkpoint} is not a segmentation run (model: {cfg.model._target_}).")
    return model, cfg


def inference_config(cfg: DictConfig, args: argparse.Namespace) -> InferenceConfig:
    """The run's validation protocol, with any option given on the command line replacing it."""
    settings = OmegaConf.to_container(cfg.model.inference, resolve=True)
    chosen = {
        "mode": args.mode,
        "scales": args.scales,
        "flip": args.flip or None,
        "crop_size": args.crop_size,
        "stride": args.stride,
        "base_size": args.base_size,
    }
    settings.update({key: value for key, value in chosen.items() if value is not None})
    return InferenceConfig(**settings, align_corners=cfg.model.align_corners)


class Predictions(NamedTuple):
    """The masks written, and the images that could not be read (in folder order)."""

    masks: list[Path]
    unreadable: list[Path]


@torch.no_grad()
def predict_folder(
    model: SegmentationModule,
    cfg: DictConfig,
    inference: InferenceConfig,
    source: Path,
    target: Path,
    on_corrupt: str = "skip",
) -> Predictions:
    """Write a mask and an overlay per image of ``source``. An unreadable image is logged and
    passed over, or with ``on_corrupt="error"`` raises :class:`CorruptSampleError`."""
    images = sorted(p for p in source.iterdir() if p.is_file() and is_image_file(p.name))
    if not images:
        raise FileNotFoundError(f"no images (.jpg, .png, ...) in {source}")
    transform = val_transform(cfg.data.base_size, cfg.data.val_resize, cfg.data.mean, cfg.data.std)
    num_classes = model.hparams.num_classes
    target.mkdir(parents=True, exist_ok=True)
    written, unreadable = [], []
    for path in images:
        try:
            rgb = read_rgb(path)
        except CorruptSampleError as error:
            if on_corrupt == "error":
                raise
            log.warning("cannot read %s: %s; skipped", path, error.reason)
            unreadable.append(path)
            continue
        tensor = transform(image=rgb)["image"].unsqueeze(0)
        probabilities = segment(model, tensor, num_classes, inference)
        labels = probabilities.argmax(dim=1)[0].byte().numpy()
        labels = cv2.resize(labels, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        mask_path = target / f"{path.stem}_mask.png"
        cv2.imwrite(str(mask_path), cv2.cvtColor(colorize(labels, num_classes), cv2.COLOR_RGB2BGR))
        side_by_side = np.concatenate([rgb, overlay(rgb, labels, num_classes)], axis=1)
        cv2.imwrite(
            str(target / f"{path.stem}_overlay.png"), cv2.cvtColor(side_by_side, cv2.COLOR_RGB2BGR)
        )
        written.append(mask_path)
        log.info("%s -> %s", path.name, mask_path.name)
    return Predictions(written, unreadable)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a .ckpt of a segmentation run")
    parser.add_argument("input", type=Path, help="folder of images")
    parser.add_argument("output", type=Path, help="folder for masks and overlays")
    parser.add_argument("--config", type=Path, help="the run's config_resolved.yaml")
    parser.add_argument("--mode", choices=["whole", "slide"])
    parser.add_argument("--scales", type=float, nargs="+")
    parser.add_argument("--flip", action="store_true", help="add horizontally flipped passes")
    parser.add_argument("--crop-size", type=int)
    parser.add_argument("--stride", type=int)
    parser.add_argument("--base-size", type=int)
    parser.add_argument(
        "--on-corrupt",
        choices=ON_CORRUPT_CHOICES,
        default="skip",
        help="for an unreadable image: skip (report it, go on, exit 1 at the end) or error (stop)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Path]:
    """Segment the folder; the masks written. Exits 1 if any image could not be read."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    model, cfg = load_model(args.checkpoint, args.config)
    inference = inference_config(cfg, args)
    try:
        masks, unreadable = predict_folder(
            model, cfg, inference, args.input, args.output, args.on_corrupt
        )
    except CorruptSampleError as error:
        raise SystemExit(
            f"predict.py: cannot read {error.path}: {error.reason}. Replace or remove it, or "
            "drop --on-corrupt error to segment the other images."
        ) from None
    if unreadable:
        raise SystemExit(
            f"predict.py: {len(unreadable)} of {len(masks) + len(unreadable)} images could not "
            f"be read (listed above); masks for the other {len(masks)} are in {args.output}"
        )
    return masks


if __name__ == "__main__":
    main()
