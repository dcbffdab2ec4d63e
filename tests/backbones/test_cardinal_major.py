"""The radix-major split attention equals the paper's cardinal-major figure up to a permutation.

The reference below follows the paper's Figure 2 literally: the input is cut into K cardinal
groups of R splits each; every (k, r) split has its own conv; attention is computed per cardinal
group with an r-softmax (sigmoid for R = 1); the cardinal groups are concatenated.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from src.models.backbones import SplitAttentionConv2d


def cardinal_major_split_attention(block: SplitAttentionConv2d, x: torch.Tensor) -> torch.Tensor:
    """The paper's figure, with the weights of ``block`` (which is radix-major)."""
    radix, cardinality, channels = block.radix, block.cardinality, block.channels
    width = channels // cardinality  # channels of one cardinal group's output
    in_width = x.shape[1] // (cardinality * radix)  # input channels of one split
    weight = block.conv.weight  # (R*C, in/(K*R), 3, 3), output channel = r*C + k*width + j
    bn0 = block.bn0

    def split_output(k: int, r: int) -> torch.Tensor:
        # Cardinal-major input: group k holds splits k*R .. k*R + R - 1.
        split_input = x[:, (k * radix + r) * in_width : (k * radix + r + 1) * in_width]
        rows = slice(r * channels + k * width, r * channels + (k + 1) * width)
        out = F.conv2d(
            split_input, weight[rows], stride=block.conv.stride, padding=block.conv.padding
        )
        out = (out - bn0.running_mean[rows, None, None]) / torch.sqrt(
            bn0.running_var[rows, None, None] + bn0.eps
        )
        return F.relu(out * bn0.weight[rows, None, None] + bn0.bias[rows, None, None])

    splits = [[split_output(k, r) for r in range(radix)] for k in range(cardinality)]
    gap = torch.cat([sum(group).mean(dim=(2, 3), keepdim=True) for group in splits], dim=1)
    hidden = F.relu(block.bn1(block.fc1(gap)))
    logits = block.fc2(hidden)  # cardinal-major: (K, R, width)
    outputs = []
    for k in range(cardinality):
        group_logits = logits[:, k * radix * width : (k + 1) * radix * width].unflatten(
            1, (radix, width)
        )
        weights = group_logits.softmax(dim=1) if radix > 1 else torch.sigmoid(group_logits)
        outputs.append(sum(weights[:, r] * splits[k][r] for r in range(radix)))
    return torch.cat(outputs, dim=1)


def radix_major_input(x: torch.Tensor, radix: int, cardinality: int) -> torch.Tensor:
    """Reorder input channel groups from cardinal-major (k, r) to radix-major (r, k)."""
    groups = x.unflatten(1, (cardinality, radix, -1))
    return groups.transpose(1, 2).flatten(1, 3)


@pytest.mark.parametrize("radix", [1, 2, 4])
@pytest.mark.parametrize("cardinality", [1, 2, 4])
def test_radix_major_equals_cardinal_major(radix: int, cardinality: int) -> None:
    torch.manual_seed(0)
    channels = 16 * cardinality
    block = SplitAttentionConv2d(channels, channels, radix=radix, cardinality=cardinality).eval()
    for bn in (block.bn0, block.bn1):  # non-trivial statistics, so the permutation matters
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, channels, 9, 9)
    with torch.no_grad():
        expected = cardinal_major_split_attention(block, x)
        actual = block(radix_major_input(x, radix, cardinality))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    if radix > 1 and cardinality > 1:  # the layouts really differ: unpermuted input mismatches
        with torch.no_grad():
            assert not torch.allclose(block(x), expected, atol=1e-3)
