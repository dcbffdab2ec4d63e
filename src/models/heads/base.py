"""What every decode head shares, as mmsegmentation's ``BaseDecodeHead`` (without the loss).

A head is given the channels of every backbone feature map (``feature_info``'s ``num_chs``,
C2..C5) and an ``in_index``, and picks its own map from the feature list in ``forward``: the
code that builds the heads does not need to know which map each one reads. Dropout and the 1x1
classifier that turn a head's last features into logits live here; a head only adds the layers
in between (:meth:`DecodeHead.transform`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from torch import Tensor, nn


class DecodeHead(nn.Module, ABC):
    """Feature list → ``features[in_index]`` → :meth:`transform` → Dropout → 1x1 classifier.

    ``in_channels`` lists the channels of every backbone feature map; the channel count of the
    map this head reads is ``self.input_channels``. Output is at that map's resolution.
    """

    def __init__(self, in_channels: Sequence[int], in_index: int) -> None:
        super().__init__()
        if isinstance(in_channels, int):
            raise TypeError(
                f"in_channels={in_channels} must list the channels of every backbone feature "
                "map (feature_info's num_chs, e.g. [256, 512, 1024, 2048]); in_index picks one."
            )
        if not -len(in_channels) <= in_index < len(in_channels):
            raise ValueError(
                f"in_index={in_index} picks no feature map: the backbone gives "
                f"{len(in_channels)} (channels {list(in_channels)}); use -1 for the last (C5), "
                "-2 for the one before it (C4)."
            )
        self.in_index = in_index
        self.input_channels = in_channels[in_index]

    def add_classifier(self, channels: int, num_classes: int, dropout: float) -> None:
        """Dropout and the 1x1 classifier on the ``channels``-wide output of :meth:`transform`.

        A head calls this last in its ``__init__``: the classifier then follows the head's own
        layers in parameter order, the order in which a seeded run initialises them and in
        which an optimizer's saved per-parameter state is matched on resume.
        """
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    @abstractmethod
    def transform(self, x: Tensor) -> Tensor:
        """The head's own layers: the selected map → ``channels`` features, same resolution."""

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        return self.classifier(self.dropout(self.transform(features[self.in_index])))
