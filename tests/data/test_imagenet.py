"""ImageNet layout checks, class mapping, transforms and the datamodule's loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.classification_transforms import eval_transform, train_transform
from src.data.imagenet import ImageNetDataModule, find_classes, list_samples
from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD
from src.data.toy import TOY_TRAIN_PER_CLASS, TOY_VAL_PER_CLASS
from tests.data.builders import make_image_folder, random_rgb, write_rgb

BATCH_KEYS = {"image", "target", "num_skipped"}


def _module(root: Path, **overrides: object) -> ImageNetDataModule:
    options = {"batch_size": 8, "num_workers": 0, "train_crop": 32, "eval_crop": 32}
    return ImageNetDataModule(str(root), **{**options, **overrides})


def test_classes_are_sorted_folder_names_and_labels_their_positions(tmp_path: Path) -> None:
    counts = {"zebra": 1, "apple": 2, "n01": 1}
    make_image_folder(tmp_path, {"train": counts, "val": counts})
    assert find_classes(tmp_path) == ["apple", "n01", "zebra"]
    samples = list_samples(tmp_path, "val", find_classes(tmp_path))
    assert [(Path(path).parent.name, label) for path, label in samples] == [
        ("apple", 0),
        ("apple", 0),
        ("n01", 1),
        ("zebra", 2),
    ]


def test_image_extensions_are_case_insensitive_and_other_files_ignored(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"train": {"a": 1}, "val": {"a": 1}})
    folder = tmp_path / "train" / "a"
    for name in ("upper.JPG", "lower.jpeg", "x.Png", "y.webp", "z.bmp"):
        write_rgb(folder / name, random_rgb())
    (folder / "notes.txt").write_text("not an image")
    assert len(list_samples(tmp_path, "train", ["a"])) == 6


def test_missing_root_prints_the_expected_tree(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        _module(tmp_path / "nowhere").setup("fit")
    message = str(caught.value)
    assert "does not exist" in message and "nowhere" in message
    assert "train/<class>/*.JPEG" in message and "val/<class>/*.JPEG" in message


def test_flat_val_folder_explains_how_to_rearrange(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"train": {"a": 1, "b": 1}})
    (tmp_path / "val").mkdir()
    write_rgb(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", random_rgb())
    with pytest.raises(ValueError, match="directly") as caught:
        _module(tmp_path).setup("fit")
    message = str(caught.value)
    assert "ILSVRC2012_val_00000001.JPEG" in message and "valprep.sh" in message
    assert "val/<class>/" in message


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"train": {"a": 1, "b": 1}, "val": {"a": 1, "b": 1}})
    (tmp_path / "train" / "empty").mkdir()
    (tmp_path / "val" / "empty").mkdir()
    with pytest.raises(ValueError, match="has no images") as caught:
        _module(tmp_path).setup("fit")
    assert str(tmp_path / "train" / "empty") in str(caught.value)


def test_val_classes_must_match_train_classes(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"train": {"a": 1, "b": 1}, "val": {"a": 1, "c": 1}})
    with pytest.raises(ValueError, match="class folders of train") as caught:
        _module(tmp_path).setup("validate")
    assert "'b'" in str(caught.value) and "'c'" in str(caught.value)


def test_declared_num_classes_is_checked_against_the_folders(toy_imagenet_root: Path) -> None:
    assert _module(toy_imagenet_root, num_classes=8).num_classes == 8
    module = _module(toy_imagenet_root, num_classes=1000)
    with pytest.raises(ValueError, match="data.num_classes=1000") as caught:
        module.setup("fit")
    assert "8 class folders" in str(caught.value)


def test_train_transform_output() -> None:
    transform = train_transform(
        48, (0.08, 1.0), "bicubic", 0.5, 0.4, None, 2, 9, IMAGENET_MEAN, IMAGENET_STD
    )
    image = transform(image=random_rgb(100, 70))["image"]
    assert image.shape == (3, 48, 48) and image.dtype == torch.float32
    low = min((0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))
    high = max((1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))
    assert low - 1e-5 <= image.min() and image.max() <= high + 1e-5


@pytest.mark.parametrize("policy", ["randaugment", "autoaugment"])
def test_augment_policies_keep_shape_and_change_pixels(policy: str) -> None:
    plain = train_transform(32, (1.0, 1.0), "bicubic", 0.0, 0.0, None, 2, 9, (0, 0, 0), (1, 1, 1))
    augmented = train_transform(
        32, (1.0, 1.0), "bicubic", 0.0, 0.0, policy, 2, 20, (0, 0, 0), (1, 1, 1)
    )
    image = random_rgb(32, 32)
    reference = plain(image=image)["image"]
    outputs = [augmented(image=image)["image"] for _ in range(10)]
    assert all(out.shape == (3, 32, 32) and out.dtype == torch.float32 for out in outputs)
    assert any(not torch.equal(out, reference) for out in outputs)


def test_eval_transform_resizes_shorter_side_then_centre_crops() -> None:
    # A 64-wide image whose middle 28 columns are white: resize shorter side 40 -> 32 / 0.8,
    # so the white band becomes 35 columns wide, and a centred 32 crop is all white.
    image = np.zeros((40, 64, 3), np.uint8)
    image[:, 18:46] = 255
    transform = eval_transform(32, 0.8, "bilinear", (0, 0, 0), (1, 1, 1))
    out = transform(image=image)["image"]
    assert out.shape == (3, 32, 32)
    assert torch.allclose(out[:, :, 4:28], torch.ones(3, 32, 24), atol=1e-3)


def test_invalid_settings_name_their_config_key(tmp_path: Path) -> None:
    for key, value in (
        ("on_corrupt", "ignore"),
        ("interpolation", "fancy"),
        ("auto_augment", "trivialaugment"),
        ("crop_pct", 1.5),
    ):
        with pytest.raises(ValueError, match=f"data.{key}="):
            _module(tmp_path, **{key: value})


def test_datamodule_batches_on_the_toy_set(toy_imagenet_root: Path) -> None:
    module = _module(toy_imagenet_root, pin_memory=True, persistent_workers=True)
    assert module.num_classes == 8 and module.class_names[0] == "n00000000"  # before setup
    module.setup("fit")
    assert module.mean == IMAGENET_MEAN and module.std == IMAGENET_STD
    train = module.train_dataloader()
    assert train.drop_last and len(train) == 8 * TOY_TRAIN_PER_CLASS // 8
    batch = next(iter(train))
    assert set(batch) == BATCH_KEYS and batch["num_skipped"] == 0
    assert batch["image"].shape == (8, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["target"].shape == (8,) and batch["target"].dtype == torch.int64
    val = module.val_dataloader()
    assert not val.drop_last
    labels = torch.cat([batch["target"] for batch in val])
    assert labels.tolist() == sorted(labels.tolist()) and len(labels) == 8 * TOY_VAL_PER_CLASS


def test_normalize_on_device_ships_uint8_and_normalises_the_same_batch(
    small_toy_imagenet_root: Path,
) -> None:
    """The same seeded first batch, normalised by the workers or after the transfer: the same
    samples and augmentation, the values within a float32 rounding of each other."""
    batches = {}
    for on_device in (False, True):
        module = _module(small_toy_imagenet_root, normalize_on_device=on_device)
        module.setup("fit")
        batches[on_device] = next(iter(module.train_dataloader()))
    shipped = batches[True]["image"]
    assert shipped.dtype == torch.uint8 and shipped.shape == (8, 3, 32, 32)
    assert shipped.is_contiguous()
    normalised = module.on_after_batch_transfer(batches[True], 0)
    assert torch.equal(normalised["target"], batches[False]["target"])
    torch.testing.assert_close(normalised["image"], batches[False]["image"], rtol=0, atol=5e-7)
    assert module.on_after_batch_transfer(batches[False], 0) is batches[False]  # float: as is


@pytest.mark.slow
def test_toy_flag_generates_into_a_new_root(tmp_path: Path) -> None:
    module = _module(tmp_path / "generated", toy=True)
    module.prepare_data()
    module.setup("validate")
    assert module.num_classes == 8 and len(module.val_set) == 8 * TOY_VAL_PER_CLASS


def test_a_root_other_than_the_toy_root_is_never_filled_with_toy_data(tmp_path: Path) -> None:
    typo = tmp_path / "tyop"
    module = _module(typo, toy_root=str(tmp_path / "toy"))
    module.prepare_data()
    with pytest.raises(FileNotFoundError, match=f"ImageNet root '{typo}' does not exist"):
        module.setup("fit")
    assert not typo.exists()
