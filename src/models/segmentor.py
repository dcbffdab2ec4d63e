"""Encoder-decoder segmentation network: backbone features → decode head (+ auxiliary head).

Return contract of ``Segmentor.forward(x)`` for ``x`` of shape B×3×H×W:

* eval mode: a Tensor of decode-head logits, B×K×H×W (upsampled to the input size). This is
  what inference (``src.models.inference``), metrics and export consume.
* training mode: ``{"out": logits, "aux": aux_logits}``, both B×K×H×W; the ``"aux"`` key is
  present only when an auxiliary head is configured. The auxiliary head is not run in eval mode,
  because it only serves as a deep-supervision loss.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Segmentor(nn.Module):
    """Backbone with ``forward_features(x) -> [C2, C3, C4, C5]`` plus heads that pick their map.

    ``align_corners`` applies to the final bilinear upsampling; PyTorch-Encoding uses ``True``,
    mmsegmentation ``False``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        decode_head: nn.Module,
        aux_head: nn.Module | None = None,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head
        self.aux_head = aux_head
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        features = self.backbone.forward_features(x)
        logits = self._resize(self.decode_head(features), x)
        if not self.training:
            return logits
        outputs = {"out": logits}
        if self.aux_head is not None:
            outputs["aux"] = self._resize(self.aux_head(features), x)
        return outputs

    def _resize(self, logits: Tensor, x: Tensor) -> Tensor:
        return F.interpolate(
            logits, size=x.shape[-2:], mode="bilinear", align_corners=self.align_corners
        )
