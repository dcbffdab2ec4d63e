"""Segmentation inference modes for evaluation: whole image, sliding window, multi-scale + flip.

The model is anything that, in eval mode, maps B×3×h×w images to B×K×h×w logits (a
``Segmentor`` does); put it in eval mode first. ``infer_whole`` and ``infer_slide`` return
logits at the input size. ``segment`` returns per-pixel class scores at the input size,
B×K×H×W, combined across scales and flips in one of two ways (``InferenceConfig.combine``):

* ``"probabilities"`` (``infer_multiscale``): each pass's logits are resized to the original
  size and turned into softmax probabilities, which are averaged (mmsegmentation's test-time
  augmentation); each pixel's scores sum to 1.
* ``"pytorch_encoding"`` (``infer_encoding``): PyTorch-Encoding's ``MultiEvalModule``, the
  protocol behind the ResNeSt paper's ADE20K numbers. Per scale the long side becomes
  ``ceil(scale * base_size)``; the image, padded right/bottom with black (``-mean/std``) to
  ``crop_size`` where it is smaller, is run whole if its long side fits the crop, else in
  ``crop_size`` windows every ``stride`` pixels (the last one clipped at the edge and padded).
  Each run's score is ``exp(logits + flipped-back logits of the flipped image)`` — an
  exponential, not a softmax — windows are averaged by their per-pixel count, and the maps of
  all scales, resized to the original size, are added. Only the argmax is meaningful.

Reported ADE20K numbers use scales (0.5, 0.75, 1.0, 1.25, 1.5, 1.75), flip, base 520, crop
480 and stride 320 on the image at its original size (``inference=encoding_ms_flip``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD

MODES = ("whole", "slide")
COMBINES = ("probabilities", "pytorch_encoding")
ADE20K_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
# PyTorch-Encoding's window stride, as a fraction of the crop size.
ENCODING_STRIDE_RATE = 2 / 3


@dataclass
class InferenceConfig:
    """How to turn a model into per-pixel probabilities; checked on construction.

    ``mode``: "whole" runs each rescaled image at once; "slide" runs ``crop_size`` square
    windows every ``stride`` pixels (only slide reads ``crop_size`` and ``stride``).
    ``scales``: each image is rescaled so its long side is ``scale * base_size``, or
    ``scale`` times its own size when ``base_size`` is None. ``flip`` adds a horizontally
    flipped pass per scale. ``align_corners`` is used by every bilinear resize.
    ``combine``: how passes are combined (see the module docstring); ``"pytorch_encoding"``
    needs ``base_size`` and ``crop_size``, chooses whole image or windows per scale itself
    (``mode`` is not read), takes ``stride`` as ``int(crop_size * 2 / 3)`` when it is None, and
    pads with black in the input's normalisation ``mean`` / ``std``.
    """

    mode: str = "whole"
    scales: Sequence[float] = (1.0,)
    flip: bool = False
    crop_size: int | None = None
    stride: int | None = None
    base_size: int | None = None
    align_corners: bool = False
    combine: str = "probabilities"
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not one of {list(MODES)}.")
        if self.combine not in COMBINES:
            raise ValueError(f"combine={self.combine!r} is not one of {list(COMBINES)}.")
        self.scales = tuple(float(scale) for scale in self.scales)
        self.mean = tuple(float(value) for value in self.mean)
        self.std = tuple(float(value) for value in self.std)
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
        if self.combine == "pytorch_encoding":
            if self.base_size is None or self.crop_size is None:
                raise ValueError(
                    f"combine='pytorch_encoding' needs base_size and crop_size (got "
                    f"base_size={self.base_size}, crop_size={self.crop_size}); e.g. 520 and 480."
                )
            if self.stride is None:
                self.stride = int(self.crop_size * ENCODING_STRIDE_RATE)
            _check_window(self.crop_size, self.stride)
        elif self.mode == "slide":
            _check_window(self.crop_size, self.stride)

    def describe(self) -> str:
        """One line for result tables, e.g. ``pytorch_encoding, scales 0.5-1.75 x 520, ...``."""
        low, high = min(self.scales), max(self.scales)
        scales = f"scale {low:g}" if low == high else f"scales {low:g}-{high:g}"
        size = f"x {self.base_size}" if self.base_size else "x own size"
        windowed = self.combine == "pytorch_encoding" or self.mode == "slide"
        windows = f", crop {self.crop_size}, stride {self.stride}" if windowed else ""
        return f"{self.combine}, {scales} {size}{windows}, {'flip' if self.flip else 'no flip'}"


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


def encoding_scaled_size(height: int, width: int, scale: float, base_size: int) -> tuple[int, int]:
    """PyTorch-Encoding's size at ``scale``: long side ``ceil(scale * base_size)``, short side
    rounded half up from the aspect ratio."""
    long_side = math.ceil(base_size * scale)
    if height > width:
        return long_side, int(width * long_side / height + 0.5)
    return int(height * long_side / width + 0.5), long_side


def _encoding_window_starts(size: int, crop_size: int, stride: int) -> list[int]:
    """Offsets every ``stride`` pixels; the last window is clipped at the edge, not moved."""
    return [i * stride for i in range(math.ceil((size - crop_size) / stride) + 1)]


def _pad_black(image: Tensor, size: int, pad_values: Sequence[float]) -> Tensor:
    """Pad right/bottom to at least ``size`` with each channel's value of black."""
    pad_h, pad_w = max(size - image.shape[-2], 0), max(size - image.shape[-1], 0)
    if pad_h == pad_w == 0:
        return image
    channels = image.split(1, dim=1)
    return torch.cat(
        [
            F.pad(c, (0, pad_w, 0, pad_h), value=v)
            for c, v in zip(channels, pad_values, strict=True)
        ],
        dim=1,
    )


def _exp_of_flip_sum(model: nn.Module, image: Tensor, num_classes: int, flip: bool) -> Tensor:
    """``exp(logits + flipped-back logits of the flipped image)``, PyTorch-Encoding's score."""
    logits = _check_classes(_logits(model, image), num_classes).float()
    if flip:
        logits = logits + _logits(model, image.flip(-1)).float().flip(-1)
    return logits.exp()


@torch.no_grad()
def infer_encoding(
    model: nn.Module, image: Tensor, num_classes: int, cfg: InferenceConfig
) -> Tensor:
    """PyTorch-Encoding's multi-scale + flip scores B×K×H×W (see the module docstring)."""
    batch, _, height, width = image.shape
    crop, stride, corners = cfg.crop_size, cfg.stride, cfg.align_corners
    black = [-m / s for m, s in zip(cfg.mean, cfg.std, strict=True)]
    scores = image.new_zeros(batch, num_classes, height, width, dtype=torch.float32)
    for scale in cfg.scales:
        size = encoding_scaled_size(height, width, scale, cfg.base_size)
        scaled = F.interpolate(image, size=size, mode="bilinear", align_corners=corners)
        padded = _pad_black(scaled, crop, black)
        if max(size) <= crop:
            maps = _exp_of_flip_sum(model, padded, num_classes, cfg.flip)
        else:
            maps = padded.new_zeros(batch, num_classes, *padded.shape[-2:], dtype=torch.float32)
            count = padded.new_zeros(1, 1, *padded.shape[-2:], dtype=torch.float32)
            for top in _encoding_window_starts(padded.shape[-2], crop, stride):
                for left in _encoding_window_starts(padded.shape[-1], crop, stride):
                    window = padded[..., top : top + crop, left : left + crop]
                    rows, cols = window.shape[-2:]
                    window_maps = _exp_of_flip_sum(
                        model, _pad_black(window, crop, black), num_classes, cfg.flip
                    )
                    maps[..., top : top + rows, left : left + cols] += window_maps[
                        ..., :rows, :cols
                    ]
                    count[..., top : top + rows, left : left + cols] += 1
            maps = maps / count
        maps = maps[..., : size[0], : size[1]]
        scores += F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=corners)
    return scores


def segment(model: nn.Module, image: Tensor, num_classes: int, cfg: InferenceConfig) -> Tensor:
    """Class scores B×K×H×W for a B×3×H×W batch under ``cfg`` (argmax them for labels):
    probabilities, or PyTorch-Encoding's scores with ``combine="pytorch_encoding"``."""
    if cfg.combine == "pytorch_encoding":
        return infer_encoding(model, image, num_classes, cfg)
    return infer_multiscale(
        model,
        image,
        num_classes,
        scales=cfg.scales,
        flip=cfg.flip,
        mode=cfg.mode,
        base_size=cfg.base_size,
        crop_size=cfg.crop_size,
        stride=cfg.stride,
        align_corners=cfg.align_corners,
    )
