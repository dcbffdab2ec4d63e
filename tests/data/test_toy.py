"""Toy dataset generators: real layouts, determinism, idempotence, safety."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from src.data.ade20k_classes import ADE20K_CLASSES
from src.data.image_io import read_mask, read_rgb
from src.data.toy import (
    COMPLETE_MARKER,
    TOY_ADE20K_CLASSES,
    TOY_TRAIN_PER_CLASS,
    TOY_VAL_PER_CLASS,
    has_complete_toy,
    make_toy_ade20k,
    make_toy_imagenet,
)

SMALL_IMAGENET = {"num_classes": 3, "train_per_class": 3, "val_per_class": 2, "image_size": 32}
SMALL_ADE = {"num_train": 3, "num_val": 2, "image_size": (24, 40)}


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


def test_toy_imagenet_layout(toy_imagenet_root: Path) -> None:
    classes = sorted(path.name for path in (toy_imagenet_root / "train").iterdir())
    assert classes == [f"n{k:08d}" for k in range(8)]
    for name in classes:
        assert len(list((toy_imagenet_root / "train" / name).glob("*.JPEG"))) == TOY_TRAIN_PER_CLASS
        assert (
            len(list((toy_imagenet_root / "val" / name).glob("ILSVRC2012_val_*.JPEG")))
            == TOY_VAL_PER_CLASS
        )
    image = read_rgb(next((toy_imagenet_root / "val" / classes[0]).iterdir()))
    assert image.shape == (64, 64, 3)
    assert has_complete_toy(toy_imagenet_root)


def test_toy_ade20k_layout_and_labels(toy_ade20k_root: Path) -> None:
    dataset = toy_ade20k_root / "ADEChallengeData2016"
    for folder, prefix, count in (("training", "ADE_train", 96), ("validation", "ADE_val", 24)):
        images = sorted((dataset / "images" / folder).iterdir())
        masks = sorted((dataset / "annotations" / folder).iterdir())
        assert len(images) == len(masks) == count
        assert images[0].name == f"{prefix}_00000001.jpg"
        assert [path.stem for path in images] == [path.stem for path in masks]
    labels = np.stack(
        [read_mask(path) for path in sorted((dataset / "annotations" / "training").iterdir())]
    )
    toy_ids = {ADE20K_CLASSES.index(name) + 1 for name in TOY_ADE20K_CLASSES}
    assert set(np.unique(labels).tolist()) == toy_ids | {0}
    ignored = (labels == 0).mean()
    assert 0.005 < ignored < 0.2, "some, but not most, pixels are 'other'"
    image = read_rgb(dataset / "images" / "training" / "ADE_train_00000001.jpg")
    assert image.shape == (96, 128, 3) and labels.shape[1:] == (96, 128)


def test_toy_ade20k_returns_the_dataset_folder(tmp_path: Path) -> None:
    assert make_toy_ade20k(tmp_path, **SMALL_ADE) == tmp_path / "ADEChallengeData2016"


@pytest.mark.parametrize(
    ("make", "params"), [(make_toy_imagenet, SMALL_IMAGENET), (make_toy_ade20k, SMALL_ADE)]
)
def test_same_seed_gives_identical_bytes(tmp_path: Path, make, params) -> None:
    first, second, other = (make(tmp_path / name, **params) for name in ("a", "b", "c"))
    assert _tree(first) == _tree(second)
    reseeded = make(tmp_path / "d", **params, seed=1)
    assert _tree(reseeded).keys() == _tree(other).keys()
    assert _tree(reseeded) != _tree(other)


def test_complete_tree_is_left_alone(tmp_path: Path) -> None:
    root = make_toy_imagenet(tmp_path / "toy", **SMALL_IMAGENET)
    stamps = {path: path.stat().st_mtime_ns for path in root.rglob("*.JPEG")}
    make_toy_imagenet(root, **SMALL_IMAGENET)
    assert {path: path.stat().st_mtime_ns for path in root.rglob("*.JPEG")} == stamps


def test_interrupted_tree_is_rewritten(tmp_path: Path) -> None:
    root = make_toy_imagenet(tmp_path / "toy", **SMALL_IMAGENET)
    expected = _tree(root)
    # Simulate a crash mid-way: marker gone, one file missing, one truncated.
    (root / COMPLETE_MARKER).unlink()
    (root / ".generating").touch()
    files = sorted(root.rglob("*.JPEG"))
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:10])
    make_toy_imagenet(root, **SMALL_IMAGENET)
    assert _tree(root) == expected


def test_new_parameters_regenerate(tmp_path: Path) -> None:
    root = make_toy_imagenet(tmp_path / "toy", **SMALL_IMAGENET)
    make_toy_imagenet(root, **{**SMALL_IMAGENET, "num_classes": 2})
    assert sorted(path.name for path in (root / "train").iterdir()) == ["n00000000", "n00000001"]


def test_refuses_to_write_over_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "precious.JPEG").write_bytes(b"real data")
    with pytest.raises(FileExistsError, match="no toy generator wrote"):
        make_toy_imagenet(tmp_path, **SMALL_IMAGENET)
    assert (tmp_path / "train" / "precious.JPEG").read_bytes() == b"real data"


def test_ade20k_toy_only_touches_its_dataset_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep")
    make_toy_ade20k(tmp_path, **SMALL_ADE)
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_invalid_parameters_name_the_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_classes=99"):
        make_toy_imagenet(tmp_path, num_classes=99)
    with pytest.raises(ValueError, match="num_classes=10"):
        make_toy_ade20k(tmp_path, num_classes=10)
