"""``data.normalize_on_device=true`` in a real Trainer: the loader ships uint8 training batches
(a model fed those would fail), the datamodule's ``on_after_batch_transfer`` normalises them
after the transfer, and the run trains as the one normalised in the workers, to within the
float32 rounding of the inputs."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.helpers import run_entry_point, small_cls_run


def test_a_run_normalised_on_the_device_trains_as_one_normalised_in_the_workers(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    weights = {}
    for on_device in ("false", "true"):
        overrides = [
            *small_cls_run(3),
            f"data.root={small_toy_imagenet_root}",
            f"data.normalize_on_device={on_device}",
        ]
        run_entry_point("src/train.py", overrides, tmp_path / on_device)
        checkpoint = tmp_path / on_device / "checkpoints" / "last.ckpt"
        weights[on_device] = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert weights["true"].keys() == weights["false"].keys()
    for name, tensor in weights["false"].items():
        torch.testing.assert_close(weights["true"][name], tensor, rtol=1e-4, atol=1e-5, msg=name)
