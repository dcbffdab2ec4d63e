"""The named backbones: each a row of architecture settings plus its official checkpoint facts.

A variant is data, not code. Figures come from the official ResNeSt README and the paper's
ablation table (arXiv 2004.08955, Table 2): ``top1`` is the reported ImageNet top-1 of the
released PyTorch weights, ``gmacs`` the published multiply-accumulates at 224 (the paper's "GFLOPs" column counts
multiply-adds once, which is why ResNeSt-50 reads 5.37 there and 10.74 GFLOPs elsewhere),
``params`` the exact parameter count of the official model (tests check ours against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The official release (tag weights_step1); the original S3 bucket is gone.
RELEASE_URL = "https://github.com/zhanghang1989/ResNeSt/releases/download/weights_step1/{file}"


@dataclass(frozen=True)
class PretrainedInfo:
    """What an official checkpoint is and how it must be evaluated."""

    sha256_prefix: str
    eval_crop: int
    train_crop: int
    top1: float
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"

    def file_name(self, name: str) -> str:
        return f"{name}-{self.sha256_prefix}.pth"

    def url(self, name: str) -> str:
        return RELEASE_URL.format(file=self.file_name(name))


@dataclass(frozen=True)
class Variant:
    """Architecture keyword arguments of :class:`ResNeSt` plus reported figures."""

    arch: dict[str, Any]
    pretrained: PretrainedInfo | None = None
    params: int | None = None
    gmacs: float | None = None
    description: str = ""


_RESNEST = dict(
    radix=2, cardinality=1, bottleneck_width=64, deep_stem=True, avg_down=True, avd=True
)
_FAST = dict(_RESNEST, stem_width=32, avd_first=True, layers=(3, 4, 6, 3))
_RESNET_D = dict(radix=0, deep_stem=True, stem_width=32, avg_down=True, avd=False)


def _fast(radix: int, cardinality: int, width: int, sha: str, top1: float, gmacs: float) -> Variant:
    return Variant(
        arch=dict(_FAST, radix=radix, cardinality=cardinality, bottleneck_width=width),
        pretrained=PretrainedInfo(sha, eval_crop=224, train_crop=224, top1=top1),
        gmacs=gmacs,
        description=f"ablation {radix}s{cardinality}x{width}d",
    )


VARIANTS: dict[str, Variant] = {
    "resnest14": Variant(
        arch=dict(_RESNEST, layers=(1, 1, 1, 1), stem_width=32),
        description="small member for CPU work and tests",
    ),
    "resnest26": Variant(
        arch=dict(_RESNEST, layers=(2, 2, 2, 2), stem_width=32),
        description="small member for CPU work",
    ),
    "resnest50": Variant(
        arch=dict(_RESNEST, layers=(3, 4, 6, 3), stem_width=32),
        pretrained=PretrainedInfo("528c19ca", eval_crop=224, train_crop=224, top1=81.03),
        params=27_483_240,
        gmacs=5.37,
    ),
    "resnest101": Variant(
        arch=dict(_RESNEST, layers=(3, 4, 23, 3), stem_width=64),
        pretrained=PretrainedInfo("22405ba7", eval_crop=256, train_crop=224, top1=82.83),
        params=48_275_016,
    ),
    "resnest200": Variant(
        arch=dict(_RESNEST, layers=(3, 24, 36, 3), stem_width=64),
        pretrained=PretrainedInfo("75117900", eval_crop=320, train_crop=256, top1=83.84),
        params=70_201_544,
    ),
    "resnest269": Variant(
        arch=dict(_RESNEST, layers=(3, 30, 48, 8), stem_width=64),
        pretrained=PretrainedInfo("0cc87c48", eval_crop=416, train_crop=320, top1=84.54),
        params=110_929_480,
    ),
    "resnest50_fast_1s1x64d": _fast(1, 1, 64, "d8fbf808", 80.33, 4.34),
    "resnest50_fast_2s1x64d": _fast(2, 1, 64, "44938639", 80.53, 4.34),
    "resnest50_fast_4s1x64d": _fast(4, 1, 64, "f74f3fc3", 80.76, 4.35),
    "resnest50_fast_1s2x40d": _fast(1, 2, 40, "32830b84", 80.59, 4.38),
    "resnest50_fast_2s2x40d": _fast(2, 2, 40, "9d126481", 80.61, 4.38),
    "resnest50_fast_4s2x40d": _fast(4, 2, 40, "41d14ed0", 81.14, 4.41),
    "resnest50_fast_1s4x24d": _fast(1, 4, 24, "d4a4f76f", 80.99, 4.42),
    "resnet50d": Variant(
        arch=dict(_RESNET_D, layers=(3, 4, 6, 3), cardinality=1, bottleneck_width=64),
        description="ResNet-D baseline (radix 0)",
    ),
    "resnext50d_32x4d": Variant(
        arch=dict(_RESNET_D, layers=(3, 4, 6, 3), cardinality=32, bottleneck_width=4),
        description="ResNeXt-D baseline (radix 0, 32 groups of width 4)",
    ),
}
