"""Whether a state dict fits a model: every missing, unexpected and reshaped key in one error.

Shared by the backbone loader (:mod:`src.models.backbones.pretrained`) and whole-model loading
(:mod:`src.models.segmentation_weights`), so a file of another architecture is reported the same
way wherever it is loaded, with the settings to check.
"""

from __future__ import annotations

from pathlib import Path

import torch

from src.models.backbones.weights_file import PretrainedWeightsError


def check_keys(
    state_dict: dict[str, torch.Tensor], own: dict[str, torch.Tensor], path: Path, what: str
) -> None:
    """Raise one error listing every missing, unexpected and reshaped key, or return."""
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    reshaped = sorted(
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    )
    if missing or unexpected or reshaped:
        raise PretrainedWeightsError(
            f"checkpoint {path} does not match {what} with these settings.\n"
            f"  missing keys ({len(missing)}): {_preview(missing)}\n"
            f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}\n"
            f"  shapes differing (checkpoint vs model) ({len(reshaped)}): {_preview(reshaped)}\n"
            f"Check that the overrides (radix, cardinality, bottleneck_width, stem_width, "
            f"norm_layer, heads, num_classes, ...) match the architecture the checkpoint was "
            f"trained with."
        )


def _preview(keys: list[str], limit: int = 10) -> str:
    return ", ".join(keys[:limit]) + (" ..." if len(keys) > limit else "")
