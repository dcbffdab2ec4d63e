"""The split-attention block against the plain formula, in every shape, layout and dtype it runs.

The block's radix sums are adds of channel slices (they vectorise in every layout); the reference
(``scripts/bench/reference_block.py``) reduces an unflattened radix axis. Both hold the same
module and weights, so in fp32 forward outputs and every gradient agree to float rounding. Under
bf16 autocast the two round differently (adds rounded one by one against a sum rounded once), so
there the block must be as close to the fp32 result as the reference is.
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

from scripts.bench.reference_block import ReferenceSplitAttention, with_reference_blocks
from src.models.backbones import create_backbone
from src.models.backbones.split_attention import SplitAttentionConv2d

RADICES = (1, 2, 4)
CARDINALITIES = (1, 2, 4)
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
DTYPES = ("fp32", "bf16")
MODES = ("train", "eval")
# relative error of the whole tensor: float rounding (the layouts sum convolutions differently,
# and train-mode BN's backward amplifies it to ~3e-5); a wrong formula is off by O(1)
FP32_TOLERANCE = 1e-4
# bf16: the block's error against fp32 may exceed the reference's by this factor and margin
BF16_RATIO, BF16_MARGIN = 1.25, 1e-3


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.float() - expected.float()).norm() / expected.float().norm()).item()


def run(block: torch.nn.Module, x: torch.Tensor, dtype: str) -> dict[str, torch.Tensor]:
    """Output, input gradient and parameter gradients of one train-mode forward/backward."""
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        out = block(x)
    direction = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out.float() * direction).sum().backward()
    grads = {f"grad/{name}": p.grad for name, p in block.named_parameters()}
    if block.training:  # a bias feeding train-mode BN has zero gradient, up to rounding noise
        del grads["grad/fc1.bias"]
    return {"out": out.detach(), "grad/input": x.grad, **grads}


def block_and_reference(
    radix: int, cardinality: int, layout: str, mode: str
) -> tuple[SplitAttentionConv2d, ReferenceSplitAttention, torch.Tensor]:
    """A block with BN statistics of a few batches, its plain twin, and an input batch."""
    torch.manual_seed(0)
    channels = 8 * cardinality
    block = SplitAttentionConv2d(2 * channels, channels, radix=radix, cardinality=cardinality)
    block = block.to(memory_format=LAYOUTS[layout])
    with torch.no_grad():
        for _ in range(3):
            block(torch.randn(8, 2 * channels, 9, 9))
    block.train(mode == "train")
    reference = copy.deepcopy(block)
    reference.__class__ = ReferenceSplitAttention
    x = torch.randn(4, 2 * channels, 9, 9).contiguous(memory_format=LAYOUTS[layout])
    return block, reference, x


@pytest.mark.parametrize(
    ("radix", "cardinality", "layout", "dtype", "mode"),
    list(itertools.product(RADICES, CARDINALITIES, LAYOUTS, DTYPES, MODES)),
)
def test_block_matches_the_plain_formula(
    radix: int, cardinality: int, layout: str, dtype: str, mode: str
) -> None:
    block, reference, x = block_and_reference(radix, cardinality, layout, mode)
    fp32 = run(copy.deepcopy(block), x, "fp32")
    actual, expected = run(block, x, dtype), run(reference, x, dtype)
    assert actual.keys() == expected.keys() == fp32.keys()
    for key, value in expected.items():
        assert value is not None and actual[key] is not None, key
        assert actual[key].shape == value.shape, key
        if dtype == "fp32":
            assert relative_error(actual[key], value) <= FP32_TOLERANCE, key
        else:
            reference_error = relative_error(value, fp32[key])
            bound = BF16_RATIO * reference_error + BF16_MARGIN
            assert relative_error(actual[key], fp32[key]) <= bound, key


def test_the_official_radix_2_layout_is_bit_identical_in_fp32() -> None:
    """resnest14 (radix 2) in fp32 NCHW: adds in the official order, so not one bit moves."""
    torch.manual_seed(0)
    ours = create_backbone("resnest14", num_classes=10).eval()
    reference = with_reference_blocks(ours)
    assert any(isinstance(m, ReferenceSplitAttention) for m in reference.modules())
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(image), reference(image))
