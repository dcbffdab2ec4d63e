"""What ``src/predict.py`` does with a composed config: the model from the weights asked for, the
evaluation transform those weights were measured with, a folder predicted, and what failed.

The weights are a run's checkpoint (``ckpt_path``: the model is rebuilt from the run's own
``config_resolved.yaml``, so it is the architecture, class count and data settings it trained
with), or whatever the composed model loads itself, exactly as ``src/eval.py`` evaluates them
without a checkpoint: a PyTorch-Encoding zoo file or any whole-model file (``model.pretrained``),
released ImageNet weights or a Hub copy (``model.backbone.pretrained``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from src.data.classification_transforms import protocol_transform
from src.data.eval_protocol import configured_eval_protocol
from src.data.image_io import CorruptSampleError
from src.data.imagenet import find_classes
from src.data.segmentation_transforms import val_transform
from src.models.inference import InferenceConfig
from src.pipeline import build_model, load_trained
from src.prediction.classification import classify_folder
from src.prediction.folder import FolderImages
from src.prediction.segmentation import segment_folder
from src.tasks.segmentation_module import SegmentationModule
from src.utils.config_validation import ConfigError, check_devices, validate_config
from src.weights_report import check_something_to_evaluate

log = logging.getLogger(__name__)


def load_predictor(cfg: DictConfig) -> tuple[L.LightningModule, DictConfig]:
    """The model in eval mode, and the config that describes it (the run's, for a checkpoint).

    For a run's checkpoint, an ``inference=`` preset (and ``model.inference.*``) on the command
    line replaces the run's own inference settings key by key: the run says what the model is,
    the command line how to predict with it.
    """
    if not cfg.ckpt_path:
        check_something_to_evaluate(cfg, entry="predict")
        validate_config(cfg)
        return build_model(cfg, restoring=False).eval(), cfg
    run_config = Path(cfg.run_config) if cfg.run_config else None
    model, run_cfg = load_trained(Path(cfg.ckpt_path), run_config, "run_config=")
    chosen = cfg.model.get("inference")
    if chosen is not None:
        if not isinstance(model, SegmentationModule):
            raise ConfigError(
                f"inference= is a segmentation setting, and {cfg.ckpt_path} is a classification "
                "run; drop inference= and model.inference.* from the command line"
            )
        run_cfg.model.inference = OmegaConf.merge(run_cfg.model.inference, chosen)
        settings = OmegaConf.to_container(run_cfg.model.inference, resolve=True)
        model.inference = InferenceConfig(**settings, align_corners=model.inference.align_corners)
    return model, run_cfg


def device_for(accelerator: str) -> torch.device:
    """``trainer.accelerator`` as one device: the CPU for ``cpu``, else a GPU when there is one
    (``check_devices`` has refused ``gpu`` / ``cuda`` on a machine without)."""
    if accelerator != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def known_class_names(data: DictConfig, num_classes: int) -> list[str] | None:
    """The class folder names of the data the classifier was trained on, when that data is
    here (``data.root/train/<class>/``) and has the model's class count; else None."""
    root = Path(str(data.root))
    if not (root / "train").is_dir():
        return None
    names = find_classes(root)
    return names if len(names) == num_classes else None


def segment_images(
    model: SegmentationModule, cfg: DictConfig, images: FolderImages, output: Path, scores: bool
) -> list[Path]:
    """Masks (and overlays, scores) under the validation transform and the model's inference
    settings."""
    data = cfg.data
    transform = val_transform(data.base_size, data.val_resize, data.mean, data.std)
    log.info("Segmenting %s with %s", images.source, model.inference.describe())
    return segment_folder(
        model, transform, model.inference, model.hparams.num_classes, images, output, scores
    )


def classify_images(
    model: L.LightningModule, cfg: DictConfig, images: FolderImages, output: Path, top_k: int
) -> list[Path]:
    """``predictions.csv`` under the evaluation protocol of the weights (their crop, crop rule,
    interpolation, mean/std), any ``data.*`` evaluation setting given explicitly winning."""
    protocol = configured_eval_protocol(cfg.data, *model.weights_protocol())
    log.info("Classifying %s with %s", images.source, protocol.describe())
    names = known_class_names(cfg.data, model.hparams.num_classes)
    return [classify_folder(model, protocol_transform(protocol), images, output, top_k, names)]


def predict(cfg: DictConfig) -> list[Path]:
    """Predict every image of ``cfg.input`` into ``cfg.output``; the masks or the CSV written.

    Exits 1 (``SystemExit``) after the others are done if any image could not be read, or at
    the first one with ``on_corrupt=error``.
    """
    check_devices(cfg)
    images = FolderImages(Path(cfg.input), cfg.on_corrupt)  # before any weights are read
    model, model_cfg = load_predictor(cfg)
    model.to(device_for(cfg.trainer.accelerator))
    output = Path(cfg.output)
    try:
        if isinstance(model, SegmentationModule):
            written = segment_images(model, model_cfg, images, output, cfg.save_scores)
        else:
            written = classify_images(model, model_cfg, images, output, cfg.top_k)
    except CorruptSampleError as error:
        raise SystemExit(
            f"predict: cannot read {error.path}: {error.reason}. Replace or remove it, or drop "
            "on_corrupt=error to predict the other images."
        ) from None
    failed, total = len(images.unreadable), len(images.paths)
    if failed:
        raise SystemExit(
            f"predict: {failed} of {total} images could not be read (listed above); the "
            f"predictions for the other {total - failed} are in {output}"
        )
    log.info("Predictions for %d images in %s", total, output)
    return written
