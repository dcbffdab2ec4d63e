"""The network exports to ONNX and onnxruntime reproduces its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort  # a test dependency, in the dev extras
import pytest
import torch

from src.models.backbones import create_backbone


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnest14", "resnest50"])
def test_onnx_round_trip(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_backbone(name).eval()
    image = torch.randn(2, 3, 64, 64)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        model,
        (image,),
        str(path),
        opset_version=17,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other_batch = torch.randn(3, 3, 64, 64)
    for batch in (image, other_batch):
        (actual,) = session.run(None, {"image": batch.numpy()})
        with torch.no_grad():
            expected = model(batch).numpy()
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4)
