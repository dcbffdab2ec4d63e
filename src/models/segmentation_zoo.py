"""PyTorch-Encoding's ADE20K models (the ResNeSt paper's segmentation results): one row each.

Figures are the model zoo's pixAcc / mIoU (%) on ADE20K val, measured with multi-scale + flip
evaluation (``inference=encoding_ms_flip`` reproduces it); PyTorch-Encoding publishes no
single-scale numbers. A zoo file is named ``<name>-<sha1[:8]>.pth`` and holds a raw state dict;
the original bucket is reported broken, so the user brings the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ZooModel:
    """One PyTorch-Encoding ADE20K checkpoint and its reported figures."""

    backbone: str
    decode_head: str  # the configs/model/decode_head choice
    sha1_prefix: str
    pixacc: float
    miou: float

    def file_name(self, name: str) -> str:
        return f"{name}-{self.sha1_prefix}.pth"


SEGMENTATION_ZOO: dict[str, ZooModel] = {
    "fcn_resnest50_ade": ZooModel("resnest50", "fcn", "4aba491a", 80.18, 42.94),
    "deeplab_resnest50_ade": ZooModel("resnest50", "deeplabv3", "2225f09d", 81.17, 45.12),
    "deeplab_resnest101_ade": ZooModel("resnest101", "deeplabv3", "06ca799c", 82.07, 46.91),
    "deeplab_resnest200_ade": ZooModel("resnest200", "deeplabv3", "7b9e7d3e", 82.45, 48.36),
    "deeplab_resnest269_ade": ZooModel("resnest269", "deeplabv3", "0074dd10", 82.62, 47.60),
}

# How the zoo's figures were measured (PyTorch-Encoding's MultiEvalModule).
ZOO_PROTOCOL = "pytorch_encoding, scales 0.5-1.75 x 520, crop 480, stride 320, flip"

_ZOO_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)-(?P<sha1>[0-9a-f]{8})\.pth$")


def zoo_entry(path: Path) -> tuple[str, ZooModel] | None:
    """The zoo row a file is named after (``deeplab_resnest50_ade-2225f09d.pth``), if any."""
    match = _ZOO_FILE.match(path.name)
    if match is None or match["name"] not in SEGMENTATION_ZOO:
        return None
    return match["name"], SEGMENTATION_ZOO[match["name"]]
