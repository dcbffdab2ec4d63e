"""A warning before training for a recipe BatchNorm cannot train well: too few images per GPU.

BatchNorm normalises each GPU's batch with that batch's own statistics (SyncBatchNorm: with the
statistics of all GPUs' batches together). Over a few images they are noisy and differ from the
running statistics evaluation uses: mmsegmentation measured 69.13 against 79.76 mIoU for a small
per-GPU batch with BatchNorm on one GPU (mmsegmentation#179), and the ResNeSt authors' answer
to such drops is SyncBatchNorm and a large per-GPU batch (ResNeSt#99); PyTorch-Encoding trains
ADE20K with SyncBatchNorm over 8 GPUs at 16 images in total.

The rule (:func:`small_batch_warning`): a run that trains on GPUs with a batch-statistics norm
layer (``batchnorm``, or ``syncbn`` on one GPU, where it has nothing to synchronise with) whose
statistics cover fewer than :data:`MIN_BATCHNORM_IMAGES` images per GPU gets a warning on more
than one GPU (where ``trainer.sync_batchnorm=true`` is the fix), and on one GPU for
segmentation (where dense prediction makes the per-GPU batch small). Runs on CPUs are not
checked: there the toy and debug presets try the code, not the recipe. Gradient accumulation
does not help: BatchNorm sees one batch at a time. The check reads the backbone's norm layer;
the segmentation heads use BatchNorm whatever it is.
"""

from __future__ import annotations

import inspect
import logging

import hydra
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from src.models.backbones.resnest import ResNeSt
from src.models.backbones.variants import VARIANTS
from src.tasks.segmentation_module import SegmentationModule

log = logging.getLogger(__name__)

# Below this many images per GPU, BatchNorm's batch statistics are too noisy to train with
# (Wu & He, "Group Normalization", 2018: BatchNorm's ImageNet error rises steeply below 16).
MIN_BATCHNORM_IMAGES = 16
BATCH_STATISTICS_NORMS = ("batchnorm", "syncbn")
GPU_ACCELERATORS = ("gpu", "cuda", "mps")


def backbone_norm_layer(backbone: DictConfig) -> str:
    """The norm layer the backbone is built with: ``model.backbone.norm_layer``, else its
    variant's row, else ``ResNeSt``'s default."""
    chosen = backbone.get("norm_layer")
    if chosen:
        return str(chosen)
    row = VARIANTS[backbone.name].arch if backbone.get("name") in VARIANTS else {}
    return row.get("norm_layer") or inspect.signature(ResNeSt).parameters["norm_layer"].default


def training_gpus(trainer: DictConfig, visible_gpus: int) -> int:
    """How many GPUs the trainer trains on (0: on CPUs, or not known here); ``visible_gpus`` is
    what ``devices=-1`` / ``auto`` and ``accelerator=auto`` find on the node (none on a machine
    without GPUs, where the run is refused before this check: src/utils/config_validation.py)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in GPU_ACCELERATORS and not (accelerator == "auto" and visible_gpus):
        return 0
    devices = trainer.get("devices", "auto")
    if isinstance(devices, str) and devices not in ("auto", "-1"):
        ids = [part for part in devices.split(",") if part.strip()]  # "0,1": ids; "2": a count
        devices = len(ids) if "," in devices else int(devices)
    elif OmegaConf.is_list(devices) or isinstance(devices, list):
        devices = len(devices)
    per_node = visible_gpus if devices in ("auto", "-1", -1) else int(devices)  # 0: unknown
    return per_node * int(trainer.get("num_nodes", 1))


def small_batch_warning(cfg: DictConfig, visible_gpus: int | None = None) -> str | None:
    """The warning for a run whose BatchNorm statistics would cover too few images (see the
    module docstring for the rule), or None. ``visible_gpus`` defaults to this machine's."""
    if visible_gpus is None:
        visible_gpus = torch.cuda.device_count()
    gpus = training_gpus(cfg.trainer, visible_gpus)
    norm = backbone_norm_layer(cfg.model.backbone)
    batch = int(cfg.data.batch_size)
    synced = gpus > 1 and (norm == "syncbn" or bool(cfg.trainer.get("sync_batchnorm")))
    segmentation = issubclass(hydra.utils.get_class(cfg.model._target_), SegmentationModule)
    if (
        not gpus
        or norm not in BATCH_STATISTICS_NORMS
        or synced
        or batch >= MIN_BATCHNORM_IMAGES
        or (gpus == 1 and not segmentation)
    ):
        return None
    sync = str(bool(cfg.trainer.get("sync_batchnorm"))).lower()  # as the config writes it
    if gpus > 1:
        fix = (
            f"trainer.sync_batchnorm=true (statistics over the {gpus * batch} images of all "
            f"{gpus} GPUs; trainer=ddp sets it), or a data.batch_size of at least "
            f"{MIN_BATCHNORM_IMAGES}"
        )
    else:
        fix = (
            f"a data.batch_size of at least {MIN_BATCHNORM_IMAGES}, more GPUs with trainer=ddp "
            "(SyncBatchNorm over all of them), or model.backbone.norm_layer=groupnorm (frozenbn "
            "to keep pretrained statistics fixed)"
        )
    return (
        f"BatchNorm over {batch} images per GPU: model.backbone.norm_layer={norm} with "
        f"trainer.sync_batchnorm={sync} on {gpus} GPU{'s' if gpus > 1 else ''} normalises each "
        f"GPU's data.batch_size={batch} images with their own statistics, fewer than "
        f"{MIN_BATCHNORM_IMAGES}. Expect clearly lower accuracy than the recipe's (BatchNorm on "
        "one GPU with a small batch gave mmsegmentation 69.13 mIoU instead of 79.76). "
        f"Fix: {fix}."
    )


@rank_zero_only
def warn_small_batch(cfg: DictConfig) -> None:
    """Log :func:`small_batch_warning`'s warning, if any, once (rank zero)."""
    warning = small_batch_warning(cfg)
    if warning:
        log.warning(warning)
