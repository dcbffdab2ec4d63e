"""Evaluating released weights directly: what was loaded, how it was evaluated, and how the
result compares with the reported figure."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import rich
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from src.data.eval_protocol import EvalProtocol
from src.models.backbones.pretrained import LoadedWeights
from src.models.inference import InferenceConfig
from src.models.segmentation_zoo import ZOO_PROTOCOL, ZooModel
from src.utils.table import Table

log = logging.getLogger(__name__)


def check_something_to_evaluate(cfg: DictConfig, entry: str = "eval") -> None:
    """Without ``ckpt_path`` an evaluation (or a prediction, ``entry="predict"``) needs
    pretrained weights, or it measures (or predicts) noise."""
    if cfg.get("ckpt_path"):
        return
    model = cfg.model
    if not (model.get("backbone", {}).get("pretrained") or model.get("pretrained")):
        raise ValueError(
            f"{entry}: ckpt_path is null and the model loads no pretrained weights, so there "
            "are no trained weights to use. Set ckpt_path=<file.ckpt>, or "
            "model.backbone.pretrained=true (released ImageNet weights, e.g. "
            "experiment=imagenet_eval), or model.pretrained="
            "<weights file> for a segmentation model."
        )


def released_weights_table(
    weights: LoadedWeights,
    protocol: EvalProtocol | None,
    metrics: Mapping[str, float],
    num_classes: int | None = None,
) -> Table:
    """Top-1 / top-5 measured here beside the reported figures, then what was loaded and the
    protocol of each column."""
    info = weights.info
    table = _measured_beside_reported(weights.name)
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
    table.add_section()
    table.add_row(
        "protocol",
        protocol.describe() if protocol else "not recorded",
        info.protocol.describe() if info else "—",
    )
    table.add_row(
        "weights", f"{weights.path} ({weights.source})", info.reported_by if info else "—"
    )
    table.add_row(
        "classes",
        "—" if num_classes is None else str(num_classes),
        str(info.num_classes) if info else "—",
    )
    table.add_row("sha256", weights.sha256[:16], "")
    return table


def zoo_model_table(
    name: str, zoo: ZooModel, inference: InferenceConfig, metrics: Mapping[str, float]
) -> Table:
    """pixAcc / mIoU measured here beside the PyTorch-Encoding zoo's, with the protocol used."""
    table = _measured_beside_reported(name)
    for label, key, reported in (
        ("pixAcc (%)", "val/pixacc", zoo.pixacc),
        ("mIoU, all 150 classes (%)", "val/miou_all", zoo.miou),
    ):
        measured = metrics.get(key)
        table.add_row(
            label, "—" if measured is None else f"{100 * measured:.2f}", f"{reported:.2f}"
        )
    table.add_section()
    table.add_row("protocol", inference.describe(), ZOO_PROTOCOL)
    return table


def _measured_beside_reported(name: str) -> Table:
    """The columns of both released-weights reports; the rows follow."""
    return Table(
        title=f"{name}: released weights evaluated", columns=["", "measured here", "reported"]
    )


@rank_zero_only
def print_released_weights_report(
    model: Any, datamodule: Any, metrics: Mapping[str, float]
) -> None:
    """Print :func:`released_weights_table` (or :func:`zoo_model_table` for a PyTorch-Encoding
    zoo file) when ``model`` was built from released weights."""
    zoo = getattr(model, "pretrained_zoo", None)
    if zoo is not None:
        rich.print(zoo_model_table(*zoo, model.inference, metrics))
        return
    weights = getattr(model, "pretrained_cfg", None)
    if weights is None:
        return
    protocol = getattr(datamodule, "eval_protocol", None)
    num_classes = getattr(datamodule, "num_classes", None)
    rich.print(released_weights_table(weights, protocol, metrics, num_classes))
    log.info(
        "Evaluated %s from %s (%s) with protocol: %s. Reported figure measured with: %s",
        weights.name,
        weights.path,
        weights.source,
        protocol.describe() if protocol else "not recorded",
        weights.info.protocol.describe() if weights.info else "no reported figure",
    )
