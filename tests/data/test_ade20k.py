"""ADE20K layout, label mapping, segmentation transforms and the datamodule's loaders."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.ade20k import (
    ADE20KDataModule,
    ADE20KDataset,
    list_pairs,
    reduce_zero_label,
    resolve_dataset_dir,
)
from src.data.ade20k_classes import ADE20K_CLASSES
from src.data.image_io import CorruptSampleError
from src.data.segmentation_transforms import train_transform, val_transform
from tests.data.builders import make_ade_tree, random_rgb, write_mask, write_rgb

IDENTITY_NORM = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def _module(root: Path, **overrides: object) -> ADE20KDataModule:
    options = {"batch_size": 4, "num_workers": 0, "base_size": 64, "crop_size": 48}
    return ADE20KDataModule(str(root), **{**options, **overrides})


def _pair(tmp_path: Path, image_hw: tuple[int, int], labels: np.ndarray) -> list[tuple[Path, Path]]:
    image = write_rgb(tmp_path / "ADE_x.jpg", random_rgb(*image_hw))
    return [(image, write_mask(tmp_path / "ADE_x.png", labels))]


def test_class_names_are_the_150_scene_parsing_names() -> None:
    assert len(ADE20K_CLASSES) == len(set(ADE20K_CLASSES)) == 150
    assert ADE20K_CLASSES[:5] == ("wall", "building", "sky", "floor", "tree")
    assert ADE20K_CLASSES[-1] == "flag"


def test_reduce_zero_label_maps_other_to_ignore_and_shifts_classes() -> None:
    raw = np.array([[0, 1, 2], [150, 255, 75]], np.uint8)
    expected = np.array([[255, 0, 1], [149, 255, 74]], np.uint8)
    np.testing.assert_array_equal(reduce_zero_label(raw, 150, "m.png"), expected)


def test_mask_values_outside_the_class_range_are_corrupt() -> None:
    with pytest.raises(CorruptSampleError, match=r"outside the class range: found \[151, 200\]"):
        reduce_zero_label(np.array([[1, 151, 200, 255]], np.uint8), 150, "m.png")


def test_train_crop_pads_image_with_zero_and_mask_with_ignore() -> None:
    # base 40, scale 1: the 30x40 image stays 30x40 inside a 64 crop.
    transform = train_transform(40, 64, (1.0, 1.0), 0.0, False, *IDENTITY_NORM)
    image = np.full((30, 40, 3), 200, np.uint8)
    out = transform(image=image, mask=np.full((30, 40), 7, np.uint8))
    assert out["image"].shape == (3, 64, 64) and out["mask"].shape == (64, 64)
    padded = torch.ones(64, 64, dtype=torch.bool)
    padded[:30, :40] = False
    assert (out["mask"][padded] == 255).all() and (out["mask"][~padded] == 7).all()
    assert (out["image"][:, padded] == 0).all()
    assert torch.allclose(out["image"][:, ~padded], torch.tensor(200 / 255))


def test_rescaling_uses_nearest_neighbour_for_masks() -> None:
    labels = np.random.default_rng(0).choice(np.array([3, 9, 40], np.uint8), size=(37, 53))
    for transform in (
        train_transform(64, 48, (0.5, 2.0), 0.5, True, *IDENTITY_NORM),
        val_transform(100, "base", *IDENTITY_NORM),
    ):
        for _ in range(5):
            mask = transform(image=random_rgb(37, 53), mask=labels)["mask"]
            assert set(mask.unique().tolist()) <= {3, 9, 40, 255}


def test_val_transform_resizes_long_side_or_keeps_size() -> None:
    image, mask = random_rgb(30, 60), np.zeros((30, 60), np.uint8)
    base = val_transform(120, "base", *IDENTITY_NORM)(image=image, mask=mask)
    assert base["image"].shape == (3, 60, 120) and base["mask"].shape == (60, 120)
    original = val_transform(120, "original", *IDENTITY_NORM)(image=image, mask=mask)
    assert original["image"].shape == (3, 30, 60)


def test_dataset_returns_mapped_labels(tmp_path: Path) -> None:
    labels = np.array([[0, 1], [2, 150]], np.uint8).repeat(8, 0).repeat(8, 1)
    dataset = ADE20KDataset(
        _pair(tmp_path, (16, 16), labels), val_transform(16, "original", *IDENTITY_NORM)
    )
    sample = dataset[0]
    assert sample["target"][0, 0] == 255 and sample["target"][0, 15] == 0
    assert sample["target"][15, 0] == 1 and sample["target"][15, 15] == 149


def test_mask_size_mismatch_names_both_files(tmp_path: Path) -> None:
    pairs = _pair(tmp_path, (16, 20), np.ones((16, 24), np.uint8))
    dataset = ADE20KDataset(pairs, val_transform(16, "original", *IDENTITY_NORM))
    with pytest.raises(CorruptSampleError, match="16x24") as caught:
        dataset[0]
    assert "ADE_x.png" in str(caught.value) and "ADE_x.jpg" in str(caught.value)


def test_missing_mask_names_the_first_one_and_its_expected_path(tmp_path: Path) -> None:
    make_ade_tree(tmp_path, num_train=3)
    annotations = tmp_path / "ADEChallengeData2016" / "annotations" / "training"
    (annotations / "ADE_train_00000002.png").unlink()
    with pytest.raises(FileNotFoundError, match="has no mask") as caught:
        list_pairs(tmp_path / "ADEChallengeData2016", "train")
    message = str(caught.value)
    assert "ADE_train_00000002.jpg" in message
    assert str(annotations / "ADE_train_00000002.png") in message and "1 of 3" in message


def test_root_may_be_the_dataset_folder_or_its_parent(tmp_path: Path) -> None:
    make_ade_tree(tmp_path)
    dataset = tmp_path / "ADEChallengeData2016"
    assert resolve_dataset_dir(tmp_path) == dataset == resolve_dataset_dir(dataset)


def test_missing_root_prints_the_expected_tree(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        _module(tmp_path / "nowhere").setup("fit")
    message = str(caught.value)
    assert "nowhere" in message
    assert "ADEChallengeData2016/{images,annotations}/{training,validation}" in message


def test_invalid_settings_name_their_config_key(tmp_path: Path) -> None:
    for key, value in (("val_resize", "half"), ("on_corrupt", "retry"), ("num_classes", 151)):
        with pytest.raises(ValueError, match=f"data.{key}="):
            _module(tmp_path, **{key: value})


def test_datamodule_batches_on_the_toy_set(
    toy_ade20k_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    module = _module(toy_ade20k_root, val_batch_size=3)
    with caplog.at_level(logging.WARNING, logger="src.data.ade20k"):
        module.setup("fit")
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "96 training / 24 validation" in warnings[0] and "20,210 / 2,000" in warnings[0]
    batch = next(iter(module.train_dataloader()))
    assert set(batch) == {"image", "target", "num_skipped"} and batch["num_skipped"] == 0
    assert batch["image"].shape == (4, 3, 48, 48) and batch["image"].dtype == torch.float32
    assert batch["target"].shape == (4, 48, 48) and batch["target"].dtype == torch.int64
    assert set(batch["target"].unique().tolist()) <= set(range(150)) | {255}
    val = next(iter(module.val_dataloader()))
    assert val["image"].shape == (3, 3, 48, 64) and val["target"].shape == (3, 48, 64)
    assert len(module.class_names) == 150 and module.mean == (0.485, 0.456, 0.406)


def test_normalize_on_device_ships_uint8_images_and_the_same_masks(
    small_toy_ade20k_root: Path,
) -> None:
    batches = {}
    for on_device in (False, True):
        module = _module(small_toy_ade20k_root, normalize_on_device=on_device)
        module.setup("fit")
        batches[on_device] = next(iter(module.train_dataloader()))
    assert batches[True]["image"].dtype == torch.uint8
    normalised = module.on_after_batch_transfer(batches[True], 0)
    assert torch.equal(normalised["target"], batches[False]["target"])
    torch.testing.assert_close(normalised["image"], batches[False]["image"], rtol=0, atol=5e-7)


def test_val_batches_pad_different_sizes(tmp_path: Path) -> None:
    root = make_ade_tree(tmp_path / "a", num_val=1, hw=(24, 32))
    extra = make_ade_tree(tmp_path / "b", num_val=1, hw=(40, 20))
    source = extra / "ADEChallengeData2016"
    target = root / "ADEChallengeData2016"
    for kind, suffix in (("images", ".jpg"), ("annotations", ".png")):
        (source / kind / "validation" / f"ADE_val_00000001{suffix}").rename(
            target / kind / "validation" / f"ADE_val_00000002{suffix}"
        )
    module = _module(root, val_resize="original", val_batch_size=2)
    module.setup("validate")
    batch = next(iter(module.val_dataloader()))
    assert batch["image"].shape == (2, 3, 40, 32) and batch["target"].shape == (2, 40, 32)
    assert (batch["target"][0, 24:] == 255).all() and (batch["target"][1, :, 20:] == 255).all()
    black = torch.tensor([-m / s for m, s in zip(module.mean, module.std, strict=True)])
    assert torch.allclose(batch["image"][0, :, 30, 5], black)


def test_toy_flag_generates_when_root_is_the_dataset_folder(tmp_path: Path) -> None:
    module = _module(tmp_path / "ADEChallengeData2016", toy=True)
    module.prepare_data()
    module.setup("validate")
    assert len(module.val_set) == 24
    assert not (tmp_path / "ADEChallengeData2016" / "ADEChallengeData2016").exists()


def test_toy_data_is_generated_at_the_toy_root_only(tmp_path: Path) -> None:
    toy_root = tmp_path / "toy"
    typo = tmp_path / "tyop"
    module = _module(typo, toy_root=str(toy_root))
    module.prepare_data()
    with pytest.raises(FileNotFoundError, match=f"ADE20K root '{typo}' does not exist"):
        module.setup("fit")
    assert not typo.exists()
    module = _module(toy_root, toy_root=str(toy_root))
    module.prepare_data()
    module.setup("validate")
    assert len(module.val_set) == 24
