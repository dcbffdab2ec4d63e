"""Initialising a backbone from pretrained weights, and the record of what it was loaded from.

:func:`load_pretrained` joins the steps: find the file
(:mod:`src.models.backbones.weights_sources`), read it safely
(:mod:`src.models.backbones.weights_file`), check its keys against the model
(:mod:`src.models.backbones.weights_fit`) and load it. The one choice made here is the
classifier's: one of another size (or a model built without one) keeps the model's own
initialisation. The model keeps a :class:`LoadedWeights` as ``pretrained_cfg``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from src.models.backbones.variants import PretrainedInfo
from src.models.backbones.weights_file import read_state_dict, sha256_of
from src.models.backbones.weights_fit import check_keys
from src.models.backbones.weights_sources import resolve_weights

log = logging.getLogger(__name__)

CLASSIFIER_PREFIX = "fc."


@dataclass(frozen=True)
class LoadedWeights:
    """What a model was initialised from (kept on the model as ``pretrained_cfg``).

    ``info`` is the variant's release record (protocol, reported accuracy) when the weights are
    that variant's released ones, else None.
    """

    name: str
    source: str
    path: Path
    sha256: str
    info: PretrainedInfo | None


def classifier_fits(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> bool:
    """Whether the checkpoint's ``fc.*`` tensors have the shapes of the model's classifier."""
    own = model.state_dict()
    return all(
        key in own and own[key].shape == value.shape
        for key, value in state_dict.items()
        if key.startswith(CLASSIFIER_PREFIX)
    )


def load_pretrained(
    model: nn.Module, name: str, pretrained: bool | str, weights_dir: str | None = None
) -> LoadedWeights:
    """Load released weights (``pretrained=True``), a Hub copy, a directory or a file, in place.

    A classifier of another size (or a model built without one) keeps its own initialisation,
    with a logged notice; any other difference raises, listing missing and unexpected keys.
    """
    path, source, info = resolve_weights(name, pretrained, weights_dir)
    state_dict = read_state_dict(path)
    own = model.state_dict()
    classifier_fits_model = classifier_fits(model, state_dict)
    if not classifier_fits_model:
        log.warning(
            "The classifier in %s does not fit this model (%s): it is not loaded.",
            path,
            ", ".join(
                f"{k} {tuple(v.shape)}"
                for k, v in state_dict.items()
                if k.startswith(CLASSIFIER_PREFIX)
            ),
        )
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIX)}
        own = {k: v for k, v in own.items() if not k.startswith(CLASSIFIER_PREFIX)}
    check_keys(state_dict, own, path, f"backbone {name!r}")
    model.load_state_dict(state_dict, strict=classifier_fits_model)
    log.info("Loaded %s weights from %s (%s)", name, path, source)
    return LoadedWeights(name, source, path, sha256_of(path), info)
