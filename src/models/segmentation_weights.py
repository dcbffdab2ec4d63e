"""Initialising a whole segmentation model from a weights file: this project's checkpoints and
PyTorch-Encoding's ADE20K zoo and training files.

PyTorch-Encoding names the dilated backbone ``pretrained.*`` (official ResNeSt key names), the
decode head ``head.*`` and the auxiliary FCN head ``auxlayer.*``; :data:`ENCODING_KEY_RULES`
maps each of its keys onto this project's ``Segmentor`` (``backbone.*``, ``decode_head.*``,
``aux_head.*``). Every key must find a tensor of the same shape, or one error lists all that
do not fit.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import nn

from src.models.backbones.weights_file import read_state_dict, verify_hash
from src.models.backbones.weights_fit import check_keys
from src.models.segmentation_zoo import zoo_entry

log = logging.getLogger(__name__)

# (pattern, replacement) on PyTorch-Encoding key names; the first that matches is applied.
ENCODING_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^pretrained\.", "backbone."),
    # DeepLabV3: ASPP branches b0..b3 (conv, BN), image pooling b4.gap (pool, conv, BN),
    # projection (conv, BN), then block (conv, BN, ReLU, Dropout, classifier)
    (r"^head\.aspp\.b([0-3])\.", r"decode_head.aspp.branches.\1."),
    (r"^head\.aspp\.b4\.gap\.([12])\.", "decode_head.aspp.branches.4.conv.{gap}."),
    (r"^head\.aspp\.project\.([01])\.", r"decode_head.aspp.project.0.\1."),
    (r"^head\.block\.([01])\.", r"decode_head.bottleneck.\1."),
    (r"^head\.block\.4\.", "decode_head.classifier."),
    # FCN head (decode head on C5, auxiliary head on C4): conv, BN, ReLU, Dropout, classifier
    (r"^head\.conv5\.([01])\.", r"decode_head.convs.0.\1."),
    (r"^head\.conv5\.4\.", "decode_head.classifier."),
    (r"^auxlayer\.conv5\.([01])\.", r"aux_head.convs.0.\1."),
    (r"^auxlayer\.conv5\.4\.", "aux_head.classifier."),
)
# Prefix of the Segmentor inside this project's Lightning checkpoints.
LIGHTNING_PREFIX = "model."
SEGMENTOR_PARTS = ("backbone.", "decode_head.", "aux_head.")


def encoding_to_segmentor(key: str) -> str:
    """This project's name for a PyTorch-Encoding key (unchanged when no rule applies)."""
    for pattern, replacement in ENCODING_KEY_RULES:
        match = re.match(pattern, key)
        if match:
            if "{gap}" in replacement:  # the pool at index 0 has no weights: 1 -> 0, 2 -> 1
                replacement = replacement.format(gap=int(match[1]) - 1)
            return re.sub(pattern, replacement, key)
    return key


def to_segmentor_keys(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """``state_dict`` with this project's ``Segmentor`` key names, and the format it was in."""
    if any(key.startswith(("pretrained.", "head.", "auxlayer.")) for key in state_dict):
        return {encoding_to_segmentor(k): v for k, v in state_dict.items()}, "PyTorch-Encoding"
    if any(key.startswith(LIGHTNING_PREFIX + SEGMENTOR_PARTS[0]) for key in state_dict):
        return {
            k.removeprefix(LIGHTNING_PREFIX): v
            for k, v in state_dict.items()
            if k.startswith(LIGHTNING_PREFIX)
        }, "this project's checkpoint"
    return dict(state_dict), "Segmentor state dict"


def load_segmentation_weights(model: nn.Module, path: str | Path) -> None:
    """Load a whole-model weights file into ``model`` (a ``Segmentor``), every key checked.

    A file named after a PyTorch-Encoding zoo model is checked against the SHA-1 prefix in its
    name first.
    """
    path = Path(path).expanduser()
    entry = zoo_entry(path)
    if entry is not None and path.is_file():
        verify_hash(path, entry[1].sha1_prefix, algorithm="sha1")
    state_dict, kind = to_segmentor_keys(read_state_dict(path, check_name_hash=entry is None))
    check_keys(
        state_dict,
        model.state_dict(),
        path,
        f"the segmentation model (model.pretrained, read as {kind})",
    )
    model.load_state_dict(state_dict, strict=True)
    log.info("Initialised the segmentation model from %s (%s)", path, kind)
