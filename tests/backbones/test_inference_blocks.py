"""The blocks' frozen-weights inference forms compute what the training forms do."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

from src.models.backbones import create_backbone
from src.models.backbones.resnest import Bottleneck
from src.models.backbones.split_attention import SplitAttentionConv2d
from src.models.folding import frozen_copy
from src.models.inference_blocks import (
    InferenceBottleneck,
    InferenceSplitAttention,
    use_inference_blocks,
)

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
# relative error of the whole tensor: the inference forms add in another order (~1e-7 in fp32);
# a wrong formula is off by O(1)
TOLERANCE = 1e-5


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm()).item()


@pytest.mark.parametrize(
    ("radix", "cardinality", "layout"), list(itertools.product((1, 2, 4), (1, 2), LAYOUTS))
)
def test_split_attention_inference_form_matches_the_block(
    radix: int, cardinality: int, layout: str
) -> None:
    torch.manual_seed(0)
    channels = 8 * cardinality
    block = SplitAttentionConv2d(2 * channels, channels, radix=radix, cardinality=cardinality)
    for _ in range(3):  # BN statistics of a few batches, not the identity
        block(torch.randn(8, 2 * channels, 9, 9))
    block = block.eval().to(memory_format=LAYOUTS[layout])
    fast = use_inference_blocks(copy.deepcopy(block))
    assert type(fast) is InferenceSplitAttention
    x = torch.randn(4, 2 * channels, 9, 9).contiguous(memory_format=LAYOUTS[layout])
    with torch.no_grad():
        assert relative_error(fast(x), block(x)) <= TOLERANCE


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_frozen_copy_runs_the_inference_forms_and_leaves_the_network_alone(
    layout: str,
) -> None:
    torch.manual_seed(0)
    network = create_backbone("resnest14", num_classes=10).eval()
    network = network.to(memory_format=LAYOUTS[layout])
    images = torch.randn(2, 3, 64, 64).contiguous(memory_format=LAYOUTS[layout])
    frozen = frozen_copy(network, images)

    kinds = {type(m) for m in frozen.modules()}
    assert {InferenceSplitAttention, InferenceBottleneck} <= kinds
    assert not kinds & {SplitAttentionConv2d, Bottleneck}
    assert not {type(m) for m in network.modules()} & {InferenceSplitAttention, InferenceBottleneck}
    with torch.no_grad():
        expected = network(images)
        assert relative_error(frozen(images), expected) <= TOLERANCE
        assert relative_error(frozen(images), expected) <= TOLERANCE  # no state left behind
