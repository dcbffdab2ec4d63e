"""Forms of the ResNeSt blocks for frozen-weights inference that make fewer passes over memory.

With the weights frozen and no autograd, three full-size passes of each block can go without
changing what it computes:

* the split attention's pooled radix sum: the average of the splits' sum equals the sum of the
  splits' averages, so the splits are pooled first (``radix`` small B x C maps to add instead of
  full-size activations);
* its weighted radix sum: each further split is multiplied and added into the first product in
  place (``addcmul_``), instead of a product and a sum per split;
* the residual connection: the block's output is added into in place.

On CPU these passes are most of the time outside the convolutions (on an AVX2 EPYC, folded
resnest50 in channels_last went from 1.27x to 1.34x the official fp32 model: docs/benchmarks.md).
The order of the additions differs from the official code's, so fp32 results move by rounding
(~1e-7) where the training forms are bit-identical; in-place writes into activations would break
autograd, which is why training never uses these forms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from src.models.backbones.resnest import Bottleneck
from src.models.backbones.split_attention import SplitAttentionConv2d


class InferenceSplitAttention(SplitAttentionConv2d):
    """:class:`SplitAttentionConv2d` with its radix sums in fewer passes (no autograd)."""

    def pooled_radix_sum(self, x: torch.Tensor, splits: Sequence[torch.Tensor]) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, 1).unflatten(1, (self.radix, -1)).sum(dim=1)

    def weighted_radix_sum(
        self, splits: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        total = splits[0] * weights[0]
        for split, weight in zip(splits[1:], weights[1:], strict=True):
            total.addcmul_(split, weight)
        return total


class InferenceBottleneck(Bottleneck):
    """:class:`Bottleneck` that adds the shortcut into its output in place (no autograd)."""

    def join(self, out: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        return self.relu(out.add_(shortcut))


# each training block and its inference form (exact classes: a subclass keeps its own forward)
INFERENCE_FORMS: dict[type[nn.Module], type[nn.Module]] = {
    SplitAttentionConv2d: InferenceSplitAttention,
    Bottleneck: InferenceBottleneck,
}


def use_inference_blocks(network: nn.Module) -> nn.Module:
    """Switch ``network``'s blocks, in place, to their :data:`INFERENCE_FORMS` (same modules and
    weights, another forward); only for a frozen copy that never trains."""
    for module in network.modules():
        form = INFERENCE_FORMS.get(type(module))
        if form is not None:
            module.__class__ = form
    return network
