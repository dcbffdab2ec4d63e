"""``scripts/predict.py``: a folder of images becomes colourised masks and overlays."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import hydra
import numpy as np
import torch
from omegaconf import OmegaConf

from scripts.predict import main
from src.visualization import palette
from tests.configs.test_experiments import compose_train


def test_predict_writes_a_mask_and_an_overlay_per_image(
    toy_ade20k_root: Path, tmp_path: Path
) -> None:
    cfg = compose_train(["experiment=toy_seg", f"data.root={toy_ade20k_root}"], tmp_path)
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    model = hydra.utils.instantiate(cfg.model)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)

    images = tmp_path / "images"
    images.mkdir()
    sources = sorted((toy_ade20k_root / "ADEChallengeData2016/images/validation").glob("*.jpg"))[:2]
    for source in sources:
        shutil.copy(source, images / source.name)

    masks = main(
        [str(checkpoint), str(images), str(tmp_path / "out"), "--scales", "0.75", "1.0", "--flip"]
    )

    assert [m.name for m in masks] == [f"{s.stem}_mask.png" for s in sources]
    colours = {tuple(c) for c in palette(cfg.model.num_classes)[:, ::-1]}  # BGR on disk
    for source, mask in zip(sources, masks, strict=True):
        original = cv2.imread(str(source))
        written = cv2.imread(str(mask))
        assert written.shape == original.shape
        assert {tuple(c) for c in np.unique(written.reshape(-1, 3), axis=0)} <= colours
        overlay = cv2.imread(str(mask.with_name(f"{source.stem}_overlay.png")))
        assert overlay.shape == (original.shape[0], 2 * original.shape[1], 3)
