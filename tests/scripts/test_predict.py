"""``scripts/predict.py``: a folder of images becomes colourised masks and overlays."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import hydra
import numpy as np
import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from scripts.predict import main
from src.visualization import palette
from tests.configs.test_experiments import compose_train


def segmentation_run(toy_root: Path, tmp_path: Path) -> tuple[DictConfig, Path]:
    """A toy segmentation run directory (its resolved config and an untrained checkpoint)."""
    cfg = compose_train(["experiment=toy_seg", f"data.root={toy_root}"], tmp_path)
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    model = hydra.utils.instantiate(cfg.model)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return cfg, checkpoint


def validation_images(toy_root: Path, count: int) -> list[Path]:
    return sorted((toy_root / "ADEChallengeData2016/images/validation").glob("*.jpg"))[:count]


def test_predict_writes_a_mask_and_an_overlay_per_image(
    toy_ade20k_root: Path, tmp_path: Path
) -> None:
    cfg, checkpoint = segmentation_run(toy_ade20k_root, tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    sources = validation_images(toy_ade20k_root, 2)
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


def test_a_corrupt_image_is_reported_once_and_the_rest_are_segmented(
    toy_ade20k_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, checkpoint = segmentation_run(toy_ade20k_root, tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    first, last = validation_images(toy_ade20k_root, 2)
    shutil.copy(first, images / "a.jpg")
    (images / "b.jpg").write_bytes(first.read_bytes()[:200])  # truncated, between the two
    shutil.copy(last, images / "c.jpg")
    out = tmp_path / "out"

    with pytest.raises(SystemExit, match=r"1 of 3 images could not be read"):
        main([str(checkpoint), str(images), str(out)])
    assert sorted(p.name for p in out.glob("*_mask.png")) == ["a_mask.png", "c_mask.png"]
    reports = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(reports) == 1 and "b.jpg" in reports[0] and "truncated" in reports[0]

    stopped = tmp_path / "stopped"
    with pytest.raises(SystemExit, match=r"cannot read .*b\.jpg.*truncated.*--on-corrupt error"):
        main([str(checkpoint), str(images), str(stopped), "--on-corrupt", "error"])
    assert sorted(p.name for p in stopped.glob("*_mask.png")) == ["a_mask.png"]
