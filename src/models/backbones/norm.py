"""Normalisation layers selectable by name from a config.

The backbone takes a norm *factory* (channels -> module) so that one network definition serves
BatchNorm for ImageNet, SyncBatchNorm for multi-GPU segmentation, GroupNorm for tiny per-GPU
batches and frozen BN for fine-tuning, while keeping the official state-dict keys for the
BatchNorm-family choices.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

NormFactory = Callable[[int], nn.Module]

NORM_LAYERS = ("batchnorm", "syncbn", "groupnorm", "frozenbn")
# the module classes those names build (frozen BN is a BatchNorm2d)
NORM_MODULES = (nn.BatchNorm2d, nn.SyncBatchNorm, nn.GroupNorm)


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that always normalises with its running statistics and never trains.

    Subclassing ``BatchNorm2d`` keeps the parameter and buffer names of the official
    checkpoints (``weight``, ``bias``, ``running_mean``, ``running_var``,
    ``num_batches_tracked``), so pretrained weights load with ``strict=True``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__(num_features, eps=eps)
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FrozenBatchNorm2d:
        """Stay in eval mode whatever the parent module asks: the statistics are frozen."""
        return super().train(False)


def _group_norm(num_channels: int, num_groups: int) -> nn.GroupNorm:
    if num_channels % num_groups:
        raise ValueError(
            f"model.backbone.norm_groups={num_groups} does not divide a layer of "
            f"{num_channels} channels; choose a divisor of every width (e.g. 16 or 8)."
        )
    return nn.GroupNorm(num_groups, num_channels)


def make_norm_factory(norm_layer: str, norm_groups: int = 32) -> NormFactory:
    """Return ``channels -> norm module`` for the config value ``model.backbone.norm_layer``."""
    factories: dict[str, NormFactory] = {
        "batchnorm": nn.BatchNorm2d,
        "syncbn": nn.SyncBatchNorm,
        "groupnorm": partial(_group_norm, num_groups=norm_groups),
        "frozenbn": FrozenBatchNorm2d,
    }
    if norm_layer not in factories:
        raise ValueError(
            f"model.backbone.norm_layer={norm_layer!r} is not one of {list(NORM_LAYERS)}."
        )
    return factories[norm_layer]
