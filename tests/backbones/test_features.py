"""Multi-scale features, output strides, norm layers, DropBlock ramp and zero-init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from src.models.backbones import DropBlock2D, create_backbone
from src.models.backbones.norm import FrozenBatchNorm2d

EXPECTED_REDUCTIONS = {32: [4, 8, 16, 32], 16: [4, 8, 16, 16], 8: [4, 8, 8, 8]}


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_feature_info_matches_forward_features(output_stride: int) -> None:
    model = create_backbone("resnest14", output_stride=output_stride, num_classes=0).eval()
    info = model.feature_info
    assert [i["num_chs"] for i in info] == [256, 512, 1024, 2048]
    assert [i["reduction"] for i in info] == EXPECTED_REDUCTIONS[output_stride]
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 64, 64))
    for feature, item in zip(features, info, strict=True):
        assert feature.shape[1] == item["num_chs"]
        assert feature.shape[-1] == 64 // item["reduction"]


def test_num_classes_zero_returns_pooled_features() -> None:
    model = create_backbone("resnest14", num_classes=0).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 2048)


def test_dilated_stages_use_the_official_dilations() -> None:
    model = create_backbone("resnest14", layers=(1, 1, 2, 2), output_stride=8)
    dilations = [block.conv2.conv.dilation[0] for block in [*model.layer3, *model.layer4]]
    assert dilations == [1, 2, 2, 4]


@pytest.mark.parametrize("norm_layer", ["batchnorm", "syncbn", "groupnorm", "frozenbn"])
def test_norm_layers_are_selectable(norm_layer: str) -> None:
    model = create_backbone("resnest14", norm_layer=norm_layer, norm_groups=16)
    kinds = {type(m) for m in model.modules()}
    expected = {
        "batchnorm": nn.BatchNorm2d,
        "syncbn": nn.SyncBatchNorm,
        "groupnorm": nn.GroupNorm,
        "frozenbn": FrozenBatchNorm2d,
    }[norm_layer]
    assert expected in kinds


def test_frozen_batchnorm_never_trains() -> None:
    model = create_backbone("resnest14", norm_layer="frozenbn").train()
    frozen = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert frozen and all(not m.training for m in frozen)
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    before = frozen[0].running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(frozen[0].running_mean, before)


def test_zero_init_last_gamma() -> None:
    model = create_backbone("resnest14", zero_init_last=True)
    assert all(float(block.bn3.weight.detach().abs().sum()) == 0 for block in model.layer1)
    assert float(create_backbone("resnest14").layer1[0].bn3.weight.detach().sum()) > 0


def test_dropblock_ramps_linearly_and_only_in_layers_3_and_4() -> None:
    model = create_backbone("resnest14", dropblock_prob=0.1)
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, DropBlock2D)}
    assert blocks and all(name.startswith(("layer3", "layer4")) for name in blocks)
    model.set_dropblock_progress(0.0)
    assert all(m.drop_prob == 0.0 for m in blocks.values())
    model.set_dropblock_progress(0.5)
    assert all(m.drop_prob == pytest.approx(0.05) for m in blocks.values())
    model.set_dropblock_progress(2.0)
    assert all(m.drop_prob == pytest.approx(0.1) for m in blocks.values())


def test_dropblock_drops_blocks_in_training_and_is_identity_in_eval() -> None:
    torch.manual_seed(0)
    block = DropBlock2D(0.3, block_size=3)
    x = torch.ones(4, 8, 16, 16)
    block.train()
    out = block(x)
    dropped = (out == 0).float().mean().item()
    assert 0.15 < dropped < 0.45
    assert out.mean().item() == pytest.approx(1.0, rel=1e-4)  # rescaled to keep the mean
    block.eval()
    assert torch.equal(block(x), x)
