"""How a classifier's accuracy is measured: the evaluation transform that weights expect.

Plain data of the data layer: the ImageNet datamodule builds its evaluation transform from an
:class:`EvalProtocol`, and the table of released weights (src/models/backbones/variants.py)
records each checkpoint's. The entry points join the two (the weights' protocol, the data
config's settings) once.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD

# How an evaluation crop is taken from an image (see ``EvalProtocol``).
CROP_RULES = ("crop_then_resize", "resize_then_crop")
# The official evaluation script's ECenterCrop: the crop is crop / (crop + 32) of the short side.
ECENTER_MARGIN = 32


def ecenter_crop_pct(crop: int) -> float:
    """The crop fraction of the official ``ECenterCrop(crop)``: 224/256, 256/288, 320/352, ..."""
    return crop / (crop + ECENTER_MARGIN)


@dataclass(frozen=True)
class EvalProtocol:
    """How a checkpoint's accuracy was measured: the evaluation transform it expects.

    ``rule="crop_then_resize"`` (the official ``ECenterCrop``): a centred square of
    ``crop_pct`` of the short side, resized to ``crop`` x ``crop``. ``rule="resize_then_crop"``
    (timm / torchvision): the short side resized to ``crop / crop_pct``, then a centred
    ``crop`` x ``crop``.
    """

    crop: int
    crop_pct: float
    rule: str
    interpolation: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def describe(self) -> str:
        """One line for tables and logs, e.g. ``crop 416: centred 0.929 of the short side ...``."""
        if self.rule == "crop_then_resize":
            how = (
                f"ECenterCrop, centred {self.crop_pct:.3f} of the short side resized to {self.crop}"
            )
        else:
            how = f"short side resized to {round(self.crop / self.crop_pct)}, centre {self.crop}"
        stats = (
            "ImageNet mean/std"
            if (self.mean, self.std) == (IMAGENET_MEAN, IMAGENET_STD)
            else (f"mean {self.mean} std {self.std}")
        )
        return f"crop {self.crop} ({self.rule}: {how}), {self.interpolation}, {stats}"


def official_protocol(crop: int) -> EvalProtocol:
    """The official evaluation script's protocol at ``crop``: ECenterCrop, bicubic."""
    return EvalProtocol(crop, ecenter_crop_pct(crop), "crop_then_resize", "bicubic")
