"""Decode/aux heads and the Segmentor: shapes at every output stride, outputs per mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from src.models.heads.base import DecodeHead
from src.models.heads.deeplabv3 import ASPP, DeepLabV3Head
from src.models.heads.fcn import FCNHead
from src.models.segmentor import Segmentor
from tests.heads.tiny_backbone import CHANNELS, TinyBackbone

NUM_CLASSES = 5


def make_segmentor(output_stride: int = 8, aux: bool = True) -> Segmentor:
    backbone = TinyBackbone(output_stride)
    decode = DeepLabV3Head(list(CHANNELS), NUM_CLASSES, channels=16, atrous_rates=(1, 2, 3))
    aux_head = FCNHead(list(CHANNELS), NUM_CLASSES, channels=8, in_index=-2) if aux else None
    return Segmentor(backbone, decode, aux_head)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_decode_head_predicts_at_feature_resolution(output_stride: int) -> None:
    backbone = TinyBackbone(output_stride)
    features = backbone.forward_features(torch.randn(2, 3, 64, 64))
    head = DeepLabV3Head(list(CHANNELS), NUM_CLASSES, channels=16).eval()
    side = 64 // output_stride
    assert head(features).shape == (2, NUM_CLASSES, side, side)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("size", [(64, 64), (65, 47)])
def test_segmentor_eval_returns_logits_at_input_size(
    output_stride: int, size: tuple[int, int]
) -> None:
    model = make_segmentor(output_stride).eval()
    logits = model(torch.randn(1, 3, *size))
    assert isinstance(logits, torch.Tensor)
    assert logits.shape == (1, NUM_CLASSES, *size)


@pytest.mark.parametrize("aux", [True, False])
def test_segmentor_train_returns_dict_with_aux_only_when_configured(aux: bool) -> None:
    model = make_segmentor(aux=aux).train()
    outputs = model(torch.randn(2, 3, 40, 36))
    assert set(outputs) == ({"out", "aux"} if aux else {"out"})
    for logits in outputs.values():
        assert logits.shape == (2, NUM_CLASSES, 40, 36)


@pytest.mark.parametrize("head_class", [FCNHead, DeepLabV3Head])
@pytest.mark.parametrize("in_index", [-2, -1, 0])
def test_head_reads_the_map_in_index_picks(head_class: type[DecodeHead], in_index: int) -> None:
    """At output stride 32 every map has its own channels and size; the output has the size of
    the picked map and equals the same head given that map alone."""
    backbone = TinyBackbone(output_stride=32)
    features = backbone.forward_features(torch.randn(2, 3, 64, 64))
    channels = [info["num_chs"] for info in backbone.feature_info]
    head = head_class(channels, NUM_CLASSES, channels=8, in_index=in_index).eval()
    assert head.input_channels == channels[in_index]
    logits = head(features)
    assert logits.shape == (2, NUM_CLASSES, *features[in_index].shape[-2:])
    alone = head_class([channels[in_index]], NUM_CLASSES, channels=8, in_index=0).eval()
    alone.load_state_dict(head.state_dict())
    torch.testing.assert_close(alone([features[in_index]]), logits, rtol=0, atol=0)


@pytest.mark.parametrize("in_index", [4, -5])
def test_head_rejects_an_in_index_past_the_feature_maps(in_index: int) -> None:
    with pytest.raises(ValueError, match=rf"in_index={in_index} picks no feature map.*4"):
        FCNHead(list(CHANNELS), NUM_CLASSES, in_index=in_index)


def test_head_rejects_one_channel_count_for_the_feature_list() -> None:
    with pytest.raises(TypeError, match="in_channels=64 must list the channels of every"):
        DeepLabV3Head(64, NUM_CLASSES)


def test_fcn_head_stacks_num_convs() -> None:
    head = FCNHead([64], NUM_CLASSES, channels=8, num_convs=2, dropout=0.2)
    assert [conv[0].in_channels for conv in head.convs] == [64, 8]
    assert head.dropout.p == 0.2
    assert head([torch.randn(2, 64, 6, 6)]).shape == (2, NUM_CLASSES, 6, 6)


def test_fcn_head_rejects_zero_convs() -> None:
    with pytest.raises(ValueError, match="num_convs=0"):
        FCNHead([64], NUM_CLASSES, num_convs=0)


def test_aspp_has_five_branches_at_the_given_rates() -> None:
    aspp = ASPP(64, channels=16, atrous_rates=(12, 24, 36))
    dilations = [branch[0].dilation[0] for branch in aspp.branches[1:4]]
    assert dilations == [12, 24, 36]
    assert aspp.project[0][0].in_channels == 5 * 16
    assert isinstance(aspp.project[1], nn.Dropout2d) and aspp.project[1].p == 0.5
    assert aspp.train()(torch.randn(2, 64, 9, 7)).shape == (2, 16, 9, 7)


def test_deeplabv3_head_parameter_count_matches_the_layer_list() -> None:
    """2048 → 256 with 150 classes: 1x1 + 3 atrous 3x3 + pooling 1x1, project, 3x3, classifier."""
    head = DeepLabV3Head([256, 512, 1024, 2048], 150)
    bn = 2 * 256
    aspp = 2 * (2048 * 256 + bn) + 3 * (2048 * 256 * 9 + bn) + (1280 * 256 + bn)
    expected = aspp + (256 * 256 * 9 + bn) + (256 * 150 + 150)
    assert sum(p.numel() for p in head.parameters()) == expected


def test_norm_layer_is_used_everywhere() -> None:
    head = DeepLabV3Head([32], NUM_CLASSES, channels=16, norm_layer=lambda c: nn.GroupNorm(4, c))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in head.modules())
    assert sum(isinstance(m, nn.GroupNorm) for m in head.modules()) == 7


def test_backbone_and_heads_partition_the_model() -> None:
    """The optimizer groups are built per part: every parameter is in exactly one part."""
    model = make_segmentor()
    parts = [model.backbone, model.decode_head, model.aux_head]
    ids = [{id(p) for p in part.parameters()} for part in parts]
    assert sum(map(len, ids)) == len(set().union(*ids))
    assert set().union(*ids) == {id(p) for p in model.parameters()}
