"""The toy_seg preset trains to a useful segmentor on CPU, here from shards of its tree streamed
from an S3-compatible server on 127.0.0.1 (``data.format=shards``), and what a finished
segmentation run is used for works from its checkpoint. The run is a session fixture
(tests/training/conftest.py); every test that reads it lives here, so that a test worker trains
it once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort  # a test dependency, in the dev extras
import pytest
import torch
import yaml

from scripts.bench.presets import PRESET_TARGETS
from scripts.export import best_checkpoint
from scripts.export import main as export_main
from src.pipeline import load_trained
from tests.helpers import QUIET, Run, last_logged, offline_env, run_entry_point

pytestmark = pytest.mark.slow


def test_toy_segmentation_learns_from_shards_in_object_storage(toy_seg_run: Run) -> None:
    data = yaml.safe_load((toy_seg_run.run_dir / "config_resolved.yaml").read_text())["data"]
    assert (data["format"], data["root"][:5]) == ("shards", "s3://")
    metric, bound = PRESET_TARGETS["toy_seg"]
    assert last_logged(toy_seg_run.run_dir, metric) >= bound  # one class everywhere: ~0.06
    samples = sorted((toy_seg_run.run_dir / "val_samples").glob("*.png"))
    assert samples, "validation samples (image | ground truth | prediction) were not written"


def test_eval_multiscale_flip_on_the_toy_checkpoint(
    toy_seg_run: Run, toy_ade20k_root: Path, tmp_path: Path
) -> None:
    checkpoint = toy_seg_run.run_dir / "checkpoints" / "last.ckpt"
    result = run_entry_point(
        "src/eval.py",
        [
            "experiment=toy_seg",
            "inference=ms_flip",
            f"data.root={toy_ade20k_root}",
            f"ckpt_path={checkpoint}",
            "++trainer.limit_val_batches=1",  # one batch of 8 images shows the whole protocol
            QUIET,
        ],
        tmp_path / "eval",
    )
    assert "Per-class IoU" in result.output and "val/miou" in result.output


# Restoring a model from a checkpoint (eval, predict) never fetches the backbone's ImageNet
# weights: the checkpoint replaces them. Checked with the network made to fail, on a copy of the
# run whose config says `pretrained: true`, as a run fine-tuned from ImageNet weights does.
def test_eval_and_predict_from_a_pretrained_run_need_no_network(
    tmp_path: Path, toy_ade20k_root: Path, toy_seg_run: Run
) -> None:
    run_dir = shutil.copytree(toy_seg_run.run_dir, tmp_path / "train")  # ours to edit
    config = run_dir / "config_resolved.yaml"
    saved = yaml.safe_load(config.read_text())
    saved["model"]["backbone"]["pretrained"] = True  # as a run fine-tuned from ImageNet weights
    config.write_text(yaml.safe_dump(saved))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"

    offline = offline_env(tmp_path)
    overrides = [
        "experiment=toy_seg",
        f"data.root={toy_ade20k_root}",
        QUIET,
        "model.backbone.pretrained=true",
        f"ckpt_path={checkpoint}",
    ]
    evaluation = run_entry_point("src/eval.py", overrides, tmp_path / "eval", env=offline)
    assert "val/miou" in evaluation.stdout

    images = tmp_path / "images"
    images.mkdir()
    source = sorted((toy_ade20k_root / "ADEChallengeData2016/images/validation").glob("*.jpg"))[0]
    shutil.copy(source, images / source.name)
    predict = [f"ckpt_path={checkpoint}", f"input={images}", f"output={tmp_path / 'out'}"]
    run_entry_point("src/predict.py", predict, tmp_path / "predict", env=offline)
    assert (tmp_path / "out" / f"{source.stem}_mask.png").is_file()


def test_the_exported_onnx_segmentor_gives_the_runs_logits_at_two_image_sizes(
    toy_seg_run: Run, tmp_path: Path
) -> None:
    export_main([str(toy_seg_run.run_dir), str(tmp_path), "--format", "onnx"])
    module, _ = load_trained(best_checkpoint(toy_seg_run.run_dir))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for height, width in ((96, 96), (72, 120)):
        images = torch.randn(2, 3, height, width, generator=generator)
        (actual,) = session.run(None, {"image": images.numpy()})
        with torch.no_grad():
            expected = module.network(images).numpy()
        assert actual.shape == expected.shape == (2, expected.shape[1], height, width)
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4)
