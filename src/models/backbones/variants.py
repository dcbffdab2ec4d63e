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

from src.data.eval_protocol import EvalProtocol, official_protocol

# The official release (tag weights_step1); the original S3 bucket is gone.
RELEASE_URL = "https://github.com/zhanghang1989/ResNeSt/releases/download/weights_step1/{file}"
HF_FILE = "model.safetensors"


@dataclass(frozen=True)
class PretrainedInfo:
    """What a released checkpoint is, where it lives and how its accuracy was measured.

    ``sha256_prefix`` names the file of the official release (None when it has none);
    ``hf_hub_id`` is the Hugging Face Hub copy (``timm/<name>``, file ``model.safetensors``,
    official key names). ``top1`` / ``top5`` are the reported figures (``reported_by`` says
    whose), measured with ``protocol``.
    """

    protocol: EvalProtocol
    top1: float
    reported_by: str
    sha256_prefix: str | None = None
    hf_hub_id: str | None = None
    train_crop: int | None = None
    top5: float | None = None
    num_classes: int = 1000

    @property
    def eval_crop(self) -> int:
        return self.protocol.crop

    def file_name(self, name: str) -> str:
        """The official release file name, ``<name>-<sha256[:8]>.pth``."""
        if self.sha256_prefix is None:
            raise ValueError(f"{name} has no file in the official release")
        return f"{name}-{self.sha256_prefix}.pth"

    def url(self, name: str) -> str:
        return RELEASE_URL.format(file=self.file_name(name))

    def download_urls(self, name: str) -> list[str]:
        """Where the weights can be downloaded, in the order they are tried."""
        urls = [self.url(name)] if self.sha256_prefix else []
        if self.hf_hub_id:
            urls.append(f"https://huggingface.co/{self.hf_hub_id}/resolve/main/{HF_FILE}")
        return urls


_OFFICIAL_README = "official ResNeSt README"


def _official(sha: str, crop: int, top1: float, hf_hub_id: str | None, train_crop: int):
    return PretrainedInfo(
        official_protocol(crop),
        top1,
        _OFFICIAL_README,
        sha256_prefix=sha,
        hf_hub_id=hf_hub_id,
        train_crop=train_crop,
    )


def _gluon_port(hf_hub_id: str, top1: float, top5: float) -> PretrainedInfo:
    """GluonCV's weights as ported by timm: evaluated by timm at 224, 0.875, bilinear."""
    return PretrainedInfo(
        EvalProtocol(224, 0.875, "resize_then_crop", "bilinear"),
        top1,
        "timm results-imagenet.csv (GluonCV weights)",
        hf_hub_id=hf_hub_id,
        train_crop=224,
        top5=top5,
    )


@dataclass(frozen=True)
class Variant:
    """Architecture keyword arguments of :class:`ResNeSt` plus reported figures."""

    arch: dict[str, Any]
    pretrained: PretrainedInfo | None = None
    params: int | None = None
    gmacs: float | None = None


_RESNEST = dict(
    radix=2, cardinality=1, bottleneck_width=64, deep_stem=True, avg_down=True, avd=True
)
_FAST = dict(_RESNEST, stem_width=32, avd_first=True, layers=(3, 4, 6, 3))
_RESNET_D = dict(radix=0, deep_stem=True, stem_width=32, avg_down=True, avd=False)


def _fast(
    radix: int,
    cardinality: int,
    width: int,
    sha: str,
    top1: float,
    gmacs: float,
    hf_hub_id: str | None = None,
) -> Variant:
    return Variant(
        arch=dict(_FAST, radix=radix, cardinality=cardinality, bottleneck_width=width),
        pretrained=_official(sha, 224, top1, hf_hub_id, train_crop=224),
        gmacs=gmacs,
    )


VARIANTS: dict[str, Variant] = {
    # small members, for CPU work and tests
    "resnest14": Variant(
        arch=dict(_RESNEST, layers=(1, 1, 1, 1), stem_width=32),
        pretrained=_gluon_port("timm/resnest14d.gluon_in1k", 75.510, 92.504),
    ),
    "resnest26": Variant(
        arch=dict(_RESNEST, layers=(2, 2, 2, 2), stem_width=32),
        pretrained=_gluon_port("timm/resnest26d.gluon_in1k", 78.484, 94.294),
    ),
    "resnest50": Variant(
        arch=dict(_RESNEST, layers=(3, 4, 6, 3), stem_width=32),
        pretrained=_official("528c19ca", 224, 81.03, "timm/resnest50d.in1k", train_crop=224),
        params=27_483_240,
        gmacs=5.37,
    ),
    "resnest101": Variant(
        arch=dict(_RESNEST, layers=(3, 4, 23, 3), stem_width=64),
        pretrained=_official("22405ba7", 256, 82.83, "timm/resnest101e.in1k", train_crop=224),
        params=48_275_016,
    ),
    "resnest200": Variant(
        arch=dict(_RESNEST, layers=(3, 24, 36, 3), stem_width=64),
        pretrained=_official("75117900", 320, 83.84, "timm/resnest200e.in1k", train_crop=256),
        params=70_201_544,
    ),
    "resnest269": Variant(
        arch=dict(_RESNEST, layers=(3, 30, 48, 8), stem_width=64),
        pretrained=_official("0cc87c48", 416, 84.54, "timm/resnest269e.in1k", train_crop=320),
        params=110_929_480,
    ),
    "resnest50_fast_1s1x64d": _fast(1, 1, 64, "d8fbf808", 80.33, 4.34),
    "resnest50_fast_2s1x64d": _fast(2, 1, 64, "44938639", 80.53, 4.34),
    "resnest50_fast_4s1x64d": _fast(4, 1, 64, "f74f3fc3", 80.76, 4.35),
    "resnest50_fast_1s2x40d": _fast(1, 2, 40, "32830b84", 80.59, 4.38),
    "resnest50_fast_2s2x40d": _fast(2, 2, 40, "9d126481", 80.61, 4.38),
    "resnest50_fast_4s2x40d": _fast(
        4, 2, 40, "41d14ed0", 81.14, 4.41, "timm/resnest50d_4s2x40d.in1k"
    ),
    "resnest50_fast_1s4x24d": _fast(
        1, 4, 24, "d4a4f76f", 80.99, 4.42, "timm/resnest50d_1s4x24d.in1k"
    ),
    # baselines without split attention (radix 0): ResNet-D, ResNeXt-D with 32 groups of width 4
    "resnet50d": Variant(
        arch=dict(_RESNET_D, layers=(3, 4, 6, 3), cardinality=1, bottleneck_width=64),
    ),
    "resnext50d_32x4d": Variant(
        arch=dict(_RESNET_D, layers=(3, 4, 6, 3), cardinality=32, bottleneck_width=4),
    ),
}
