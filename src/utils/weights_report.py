"""Evaluating released weights directly: what was loaded, how it was evaluated, and how the
result compares with the reported figure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rich
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from rich.table import Table

from src.models.backbones.pretrained import LoadedWeights
from src.models.backbones.variants import EvalProtocol


def check_something_to_evaluate(cfg: DictConfig) -> None:
    """Without ``ckpt_path`` an evaluation needs pretrained weights, or it measures noise."""
    if cfg.get("ckpt_path"):
        return
    model = cfg.model
    if not (model.get("backbone", {}).get("pretrained") or model.get("pretrained")):
        raise ValueError(
            "eval: ckpt_path is null and the model loads no pretrained weights, so there is "
            "nothing to evaluate. Set ckpt_path=<file.ckpt>, or model.backbone.pretrained=true "
            "(released ImageNet weights, e.g. experiment=imagenet_eval), or model.pretrained="
            "<weights file> for a segmentation model."
        )


def released_weights_table(
    weights: LoadedWeights, protocol: EvalProtocol | None, metrics: Mapping[str, float]
) -> Table:
    """Top-1 / top-5 measured here beside the reported figures, with the protocol used."""
    info = weights.info
    table = Table(title=f"{weights.name}: released weights evaluated")
    table.add_column("")
    table.add_column("measured", justify="right")
    table.add_column("reported", justify="right")
    for label, key, reported in (
        ("top-1 (%)", "val/acc1", info.top1 if info else None),
        ("top-5 (%)", "val/acc5", info.top5 if info else None),
    ):
        measured = metrics.get(key)
        table.add_row(
            label,
            "—" if measured is None else f"{100 * measured:.2f}",
            "—" if reported is None else f"{reported:.2f}",
        )
    table.caption = "\n".join(
        [
            f"weights: {weights.path} ({weights.source}), sha256 {weights.sha256[:12]}",
            f"protocol used: {protocol.describe() if protocol else 'not recorded'}",
            f"protocol of the reported figure: {info.protocol.describe()}; reported by "
            f"{info.reported_by}"
            if info
            else "no reported figure for these weights",
        ]
    )
    return table


@rank_zero_only
def print_released_weights_report(
    model: Any, datamodule: Any, metrics: Mapping[str, float]
) -> None:
    """Print :func:`released_weights_table` when ``model`` was built from released weights."""
    weights = getattr(model, "pretrained_cfg", None)
    if weights is None:
        return
    protocol = getattr(datamodule, "eval_protocol", None)
    rich.print(released_weights_table(weights, protocol, metrics))
