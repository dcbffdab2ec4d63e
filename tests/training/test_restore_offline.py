"""Restoring a model from a checkpoint (eval, predict) never fetches the backbone's ImageNet
weights: the checkpoint replaces them. Checked with the network made to fail, on a segmentation
run whose config says ``pretrained: true``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.training.launch import REPO_ROOT, environment, launch

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


def _succeeds(script: Path, arguments: list[str], env: dict[str, str]) -> str:
    """Run ``script`` as a user would; its standard output, once it has exited 0."""
    process = subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return process.stdout


def test_eval_and_predict_from_a_pretrained_run_need_no_network(
    tmp_path: Path, toy_ade20k_root: Path
) -> None:
    data = [f"data.root={toy_ade20k_root}", "extras.print_config=false"]
    tiny = [
        "trainer.max_epochs=1",
        "++trainer.limit_train_batches=1",
        "++trainer.limit_val_batches=1",
    ]
    run_dir = tmp_path / "train"
    launch("train.py", ["experiment=toy_seg", *data, *tiny, "test=false"], run_dir)
    config = run_dir / "config_resolved.yaml"
    saved = yaml.safe_load(config.read_text())
    saved["model"]["backbone"]["pretrained"] = True  # as a run fine-tuned from ImageNet weights
    config.write_text(yaml.safe_dump(saved))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"

    env = {**environment(tmp_path / "eval"), **_offline(tmp_path)}
    overrides = [
        "experiment=toy_seg",
        *data,
        "model.backbone.pretrained=true",
        f"ckpt_path={checkpoint}",
    ]
    assert "val/miou" in _succeeds(REPO_ROOT / "src" / "eval.py", overrides, env)

    images = tmp_path / "images"
    images.mkdir()
    source = sorted((toy_ade20k_root / "ADEChallengeData2016/images/validation").glob("*.jpg"))[0]
    shutil.copy(source, images / source.name)
    predict = REPO_ROOT / "scripts" / "predict.py"
    _succeeds(predict, [str(checkpoint), str(images), str(tmp_path / "out")], env)
    assert (tmp_path / "out" / f"{source.stem}_mask.png").is_file()
