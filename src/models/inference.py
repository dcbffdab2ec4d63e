"""Segmentation inference modes for evaluation: whole image, sliding window, multi-scale + flip.

The model is anything that, in eval mode, maps B×3×h×w images to B×K×h×w logits (a
``Segmentor`` does); put it in eval mode first. ``infer_whole`` and ``infer_slide`` return
logits at the input size; ``infer_multiscale`` and ``segment`` return softmax probabilities at
the input size, B×K×H×W, each pixel summing to 1.

Reported ADE20K numbers (PyTorch-Encoding) use scales (0.5, 0.75, 1.0, 1.25, 1.5, 1.75) of a
520-pixel long side, flip, and 480-pixel windows at stride 320:
``InferenceConfig(mode="slide", scales=..., flip=True, base_size=520, crop_size=480, stride=320)``.
PyTorch-Encoding sums logits across scales; here probabilities are averaged, as in
mmsegmentation's test-time augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MODES = ("whole", "slide")
ADE20K_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


@dataclass
class InferenceConfig:
    """How to turn a model into per-pixel probabilities; checked on construction.

    ``mode``: "whole" runs each rescaled image at once; "slide" runs ``crop_size`` square
    windows every ``stride`` pixels (only slide reads ``crop_size`` and ``stride``).
    ``scales``: each image is rescaled so its long side is ``scale * base_size``, or
    ``scale`` times its own size when ``base_size`` is None. ``flip`` adds a horizontally
    flipped pass per scale. ``align_corners`` is used by every bilinear resize.
    """

    mode: str = "whole"
    scales: Sequence[float] = (1.0,)
    flip: bool = False
    crop_size: int | None = None
    stride: int | None = None
    base_size: int | None = None
    align_corners: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not one of {list(MODES)}.")
        self.scales = tuple(float(scale) for scale in self.scales)
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(
                f"scales={list(self.scales)} must be a non-empty list of positive factors, "
                "e.g. [1.0] for single-scale evaluation."
            )
        if self.base_size is not None and self.base_size <= 0:
            raise ValueError(
                f"base_size={self.base_size} must be positive, or null to scale "
                "each image by its own size."
            )
        if self.mode == "slide":
            _check_window(self.crop_size, self.stride)


def _check_window(crop_size: int | None, stride: int | None) -> None:
    if crop_size is None or stride is None:
        raise ValueError(
            f"mode='slide' needs crop_size and stride (got crop_size={crop_size}, "
            f"stride={stride}); e.g. crop_size=480, stride=320 for ADE20K."
        )
    if crop_size <= 0 or stride <= 0:
        raise ValueError(f"crop_size={crop_size} and stride={stride} must both be positive.")
    if stride > crop_size:
        raise ValueError(
            f"stride={stride} is larger than crop_size={crop_size}, so the windows would leave "
            "pixels unpredicted; use stride <= crop_size (e.g. 2/3 of it)."
        )


def _logits(model: nn.Module, image: Tensor) -> Tensor:
    logits = model(image)
    if not isinstance(logits, Tensor):
        raise TypeError(
            f"model returned {type(logits).__name__}, not a logits Tensor; call model.eval() "
            "before inference (a Segmentor returns a dict in training mode)."
        )
    if logits.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"model returned logits of size {tuple(logits.shape[-2:])} for an input of size "
            f"{tuple(image.shape[-2:])}; inference expects logits upsampled to the input size."
        )
    return logits


def _check_classes(logits: Tensor, num_classes: int) -> Tensor:
    if logits.shape[1] != num_classes:
        raise ValueError(
            f"num_classes={num_classes} but the model predicts {logits.shape[1]} classes; "
            "set num_classes to the decode head's number of classes."
        )
    return logits


def _resize(x: Tensor, size: tuple[int, int], align_corners: bool) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


def _window_starts(size: int, crop_size: int, stride: int) -> list[int]:
    """Offsets of windows every ``stride`` pixels, the last one pulled back to end at ``size``."""
    last = max(size - crop_size, 0)
    return [min(i * stride, last) for i in range(math.ceil(last / stride) + 1)]


@torch.no_grad()
def infer_whole(model: nn.Module, image: Tensor) -> Tensor:
    """Logits for the whole B×3×H×W batch in one pass, B×K×H×W."""
    return _logits(model, image)


@torch.no_grad()
def infer_slide(
    model: nn.Module, image: Tensor, num_classes: int, crop_size: int, stride: int
) -> Tensor:
    """Logits B×K×H×W averaged over square windows that cover the image.

    Windows start every ``stride`` pixels; the last window in each direction is moved back to
    end at the border, and overlapping logits are averaged with a per-pixel count. An image
    side shorter than ``crop_size`` is zero-padded (bottom/right) to the window size, so the
    network always sees the size it was trained on, and the padding's logits are dropped.
    """
    _check_window(crop_size, stride)
    batch, _, height, width = image.shape
    logit_sum = image.new_zeros(batch, num_classes, height, width, dtype=torch.float32)
    count = image.new_zeros(1, 1, height, width, dtype=torch.float32)
    for top in _window_starts(height, crop_size, stride):
        for left in _window_starts(width, crop_size, stride):
            crop = image[..., top : top + crop_size, left : left + crop_size]
            crop_h, crop_w = crop.shape[-2:]
            padded = F.pad(crop, (0, crop_size - crop_w, 0, crop_size - crop_h))
            logits = _check_classes(_logits(model, padded), num_classes)[..., :crop_h, :crop_w]
            logit_sum[..., top : top + crop_h, left : left + crop_w] += logits
            count[..., top : top + crop_h, left : left + crop_w] += 1
    return logit_sum / count


def _scaled_size(height: int, width: int, scale: float, base_size: int | None) -> tuple[int, int]:
    """Size with the long side at ``ceil(scale * base_size)`` (PyTorch-Encoding) or ``scale`` x."""
    ratio = scale if base_size is None else math.ceil(scale * base_size) / max(height, width)
    return max(1, int(height * ratio + 0.5)), max(1, int(width * ratio + 0.5))


@torch.no_grad()
def infer_multiscale(
    model: nn.Module,
    image: Tensor,
    num_classes: int,
    scales: Sequence[float] = ADE20K_SCALES,
    flip: bool = True,
    mode: str = "whole",
    base_size: int | None = None,
    crop_size: int | None = None,
    stride: int | None = None,
    align_corners: bool = False,
) -> Tensor:
    """Softmax probabilities B×K×H×W averaged over rescaled (and flipped) passes.

    Each pass's logits are resized back to the original H×W before the softmax, so every pass
    has equal weight per pixel whatever its scale. Arguments are validated as in
    ``InferenceConfig``.
    """
    cfg = InferenceConfig(mode, scales, flip, crop_size, stride, base_size, align_corners)
    batch, _, height, width = image.shape
    probs = image.new_zeros(batch, num_classes, height, width, dtype=torch.float32)
    flips = (False, True) if cfg.flip else (False,)
    for scale in cfg.scales:
        size = _scaled_size(height, width, scale, cfg.base_size)
        scaled = _resize(image, size, cfg.align_corners)
        for flipped in flips:
            x = scaled.flip(-1) if flipped else scaled
            if cfg.mode == "slide":
                logits = infer_slide(model, x, num_classes, cfg.crop_size, cfg.stride)
            else:
                logits = _check_classes(infer_whole(model, x), num_classes)
            if flipped:
                logits = logits.flip(-1)
            probs += _resize(logits.float(), (height, width), cfg.align_corners).softmax(dim=1)
    return probs / (len(cfg.scales) * len(flips))


def segment(model: nn.Module, image: Tensor, num_classes: int, cfg: InferenceConfig) -> Tensor:
    """Probabilities B×K×H×W for a B×3×H×W batch under the inference mode ``cfg``."""
    return infer_multiscale(model, image, num_classes, **asdict(cfg))
