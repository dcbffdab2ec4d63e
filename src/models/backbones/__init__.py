"""ResNeSt backbones: ``create_backbone(name, ...)`` and ``list_backbones()``."""

from src.models.backbones.factory import create_backbone, list_backbones
from src.models.backbones.resnest import ResNeSt
from src.models.backbones.split_attention import DropBlock2D, SplitAttentionConv2d
from src.models.backbones.variants import VARIANTS, PretrainedInfo, Variant

__all__ = [
    "VARIANTS",
    "DropBlock2D",
    "PretrainedInfo",
    "ResNeSt",
    "SplitAttentionConv2d",
    "Variant",
    "create_backbone",
    "list_backbones",
]
