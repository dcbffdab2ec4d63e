"""PyTorch-Encoding (``torch-encoding`` 1.2.1) as a test oracle on a CPU-only machine.

Its package ``__init__`` compiles CUDA/C++ extensions at import, which the wheel cannot do here:
an empty ``encoding.lib`` is registered first (the model code calls it only inside SyncBN,
which these tests replace by ``nn.BatchNorm2d``). ``BaseNet`` always asks for ImageNet weights
for its backbone: ``get_backbone`` is wrapped to ask for none. torchvision is stood in for as
in :mod:`tests.oracles.torchvision_placeholder`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import torch
from torch import nn

from tests.oracles.randomise import randomise_batchnorm
from tests.oracles.torchvision_placeholder import install

install()
sys.modules.setdefault("encoding.lib", types.ModuleType("encoding.lib"))
import encoding  # noqa: E402
import encoding.models.sseg.base as encoding_base  # noqa: E402
from encoding.models.sseg.deeplab import DeepLabV3  # noqa: E402
from encoding.models.sseg.fcn import FCN  # noqa: E402

_get_backbone = encoding_base.get_backbone


def _backbone_without_download(*args: Any, **kwargs: Any) -> nn.Module:
    return _get_backbone(*args, **{**kwargs, "pretrained": False})


encoding_base.get_backbone = _backbone_without_download

MODELS = {"deeplabv3": DeepLabV3, "fcn": FCN}


def encoding_model(head: str, backbone: str, num_classes: int = 150, seed: int = 0) -> nn.Module:
    """Their segmentation model (auxiliary head on), random weights, randomised BN statistics,
    in eval mode."""
    torch.manual_seed(seed)
    model = MODELS[head](num_classes, backbone=backbone, aux=True, norm_layer=nn.BatchNorm2d)
    return randomise_batchnorm(model, seed)


__all__ = ["encoding", "encoding_base", "encoding_model"]
