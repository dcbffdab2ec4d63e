"""Restoring a model from a checkpoint (eval, predict) never fetches the backbone's ImageNet
weights: the checkpoint replaces them. Checked with the network made to fail, on a segmentation
run (a copy of the session's toy_seg run) whose config says ``pretrained: true``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import QUIET, Run, run_entry_point, small_cls_run

pytestmark = pytest.mark.slow

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


def _offline(tmp_path: Path) -> dict[str, str]:
    """No route to any weights host: every proxy unreachable, empty caches, Hub offline."""
    proxies = {
        name: UNREACHABLE for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    }
    return {
        **proxies,
        "NO_PROXY": "",
        "no_proxy": "",
        "TORCH_HOME": str(tmp_path / "empty_torch_home"),
        "HF_HOME": str(tmp_path / "empty_hf_home"),
        "HF_HUB_OFFLINE": "1",
    }


def test_eval_and_predict_from_a_pretrained_run_need_no_network(
    tmp_path: Path, toy_ade20k_root: Path, toy_seg_run: Run
) -> None:
    run_dir = shutil.copytree(toy_seg_run.run_dir, tmp_path / "train")  # ours to edit
    config = run_dir / "config_resolved.yaml"
    saved = yaml.safe_load(config.read_text())
    saved["model"]["backbone"]["pretrained"] = True  # as a run fine-tuned from ImageNet weights
    config.write_text(yaml.safe_dump(saved))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"

    offline = _offline(tmp_path)
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
    predict = [str(checkpoint), str(images), str(tmp_path / "out")]
    run_entry_point("scripts/predict.py", predict, tmp_path / "eval", env=offline)
    assert (tmp_path / "out" / f"{source.stem}_mask.png").is_file()


def test_a_training_run_prints_no_warning_about_fetching_anything(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    """Dependencies that check for updates at import (albumentations asks PyPI) are told not
    to: offline, such a check prints a warning into every run. A fresh interpreter (the
    environment differs in what is read at import), so the imports happen in this run."""
    overrides = [*small_cls_run(2), f"data.root={small_toy_imagenet_root}"]
    run = run_entry_point("src/train.py", overrides, tmp_path / "run", env=_offline(tmp_path))
    for phrase in ("fetch", "check for updates", "urlopen", "new version"):
        assert phrase not in run.output.lower(), run.output[-3000:]
