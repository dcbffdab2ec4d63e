"""The on_corrupt policy end to end, and fuzzing both datasets with damaged files."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from src.data.ade20k import ADE20KDataModule, ADE20KDataset
from src.data.classification_transforms import eval_transform
from src.data.collate import CollateSamples
from src.data.image_io import CorruptSampleError
from src.data.imagenet import ImageFolderDataset, ImageNetDataModule
from src.data.segmentation_transforms import val_transform as ade_val_transform
from tests.data.builders import encode, make_ade_tree, make_image_folder, random_rgb

BATCH_KEYS = {"image", "target", "num_skipped"}
NORM = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def _imagenet_with_two_bad_files(root: Path) -> Path:
    make_image_folder(root, {"train": {"a": 3, "b": 3}, "val": {"a": 3, "b": 3}})
    (root / "val" / "a" / "a_1.JPEG").write_bytes(b"definitely not a jpeg")
    truncated = root / "val" / "b" / "b_0.JPEG"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    return root


@pytest.mark.parametrize("num_workers", [0, 1])
def test_skip_mode_drops_counts_and_logs_each_file_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, num_workers: int
) -> None:
    root = _imagenet_with_two_bad_files(tmp_path)
    module = ImageNetDataModule(
        str(root), batch_size=4, num_workers=num_workers, eval_crop=16, on_corrupt="skip"
    )
    module.setup("validate")
    with caplog.at_level(logging.WARNING, logger="src.data.corrupt"):
        for _ in range(2):
            batches = list(module.val_dataloader())
            assert all(set(batch) == BATCH_KEYS for batch in batches)
            assert sum(batch["num_skipped"] for batch in batches) == 2
            assert sum(len(batch["target"]) for batch in batches) == 4
            assert torch.cat([batch["target"] for batch in batches]).tolist() == [0, 0, 1, 1]
    if num_workers == 0:  # worker processes log through their own handlers
        skipped = [record.getMessage() for record in caplog.records]
        assert len(skipped) == 2
        assert any("a_1.JPEG" in line for line in skipped)
        assert any("b_0.JPEG" in line for line in skipped)


def test_error_mode_raises_the_corrupt_sample_error(tmp_path: Path) -> None:
    root = _imagenet_with_two_bad_files(tmp_path)
    module = ImageNetDataModule(str(root), batch_size=4, num_workers=0, eval_crop=16)
    module.setup("validate")
    with pytest.raises(CorruptSampleError, match="a_1.JPEG") as caught:
        list(module.val_dataloader())
    assert "data.on_corrupt=skip" in str(caught.value)


def test_skip_mode_for_segmentation(tmp_path: Path) -> None:
    make_ade_tree(tmp_path, num_val=3)
    bad = tmp_path / "ADEChallengeData2016" / "annotations" / "validation" / "ADE_val_00000002.png"
    bad.write_bytes(encode(Image.fromarray(random_rgb()), "PNG"))  # RGB, not a label map
    module = ADE20KDataModule(
        str(tmp_path), val_batch_size=3, num_workers=0, base_size=32, on_corrupt="skip"
    )
    module.setup("validate")
    (batch,) = list(module.val_dataloader())
    assert set(batch) == BATCH_KEYS and batch["num_skipped"] == 1
    assert batch["image"].shape[0] == batch["target"].shape[0] == 2


@pytest.mark.parametrize(("segmentation", "target_shape"), [(False, (0,)), (True, (0, 0, 0))])
def test_batch_of_only_skipped_samples_is_empty_but_well_formed(
    segmentation: bool, target_shape: tuple[int, ...]
) -> None:
    batch = CollateSamples(segmentation=segmentation)([None, None])
    assert set(batch) == BATCH_KEYS and batch["num_skipped"] == 2
    assert batch["image"].shape == (0, 3, 0, 0) and batch["image"].dtype == torch.float32
    assert batch["target"].shape == target_shape and batch["target"].dtype == torch.int64


# --- fuzzing: damaged files either load or raise CorruptSampleError, nothing else ---------

_IMAGE = random_rgb(24, 32)
_LABELS = (np.arange(24 * 32).reshape(24, 32) % 5).astype(np.uint8)
_VALID_IMAGES = (
    encode(Image.fromarray(_IMAGE), "JPEG"),
    encode(Image.fromarray(_IMAGE), "JPEG", progressive=True),
    encode(Image.fromarray(_IMAGE), "PNG"),
    encode(Image.fromarray(_IMAGE), "WEBP"),
)
_VALID_MASKS = (
    encode(Image.fromarray(_LABELS), "PNG"),
    encode(Image.fromarray(_LABELS, "P"), "PNG"),
)


def _damaged(valid: tuple[bytes, ...]) -> st.SearchStrategy[bytes]:
    """Random bytes, valid files cut short, and valid files with a stretch overwritten."""
    base = st.sampled_from(valid)
    return st.one_of(
        st.binary(max_size=512),
        st.builds(lambda data, cut: data[: int(len(data) * cut)], base, st.floats(0, 1)),
        st.builds(
            lambda data, at, noise: (
                data[: int(len(data) * at)] + noise + data[int(len(data) * at) + len(noise) :]
            ),
            base,
            st.floats(0, 1),
            st.binary(min_size=1, max_size=16),
        ),
    )


_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(data=_damaged(_VALID_IMAGES))
def test_classification_samples_load_or_raise_corrupt_sample_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample.JPEG"
        path.write_bytes(data)
        dataset = ImageFolderDataset([(path, 0)], eval_transform(16, 0.875, "bicubic", *NORM))
        try:
            sample = dataset[0]
        except CorruptSampleError:
            return
        assert sample["image"].shape == (3, 16, 16)


@_FUZZ
@given(image=_damaged(_VALID_IMAGES), mask=_damaged(_VALID_MASKS))
def test_segmentation_samples_load_or_raise_corrupt_sample_error(image: bytes, mask: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        image_path, mask_path = Path(folder) / "ADE_x.jpg", Path(folder) / "ADE_x.png"
        image_path.write_bytes(image)
        mask_path.write_bytes(mask)
        dataset = ADE20KDataset([(image_path, mask_path)], ade_val_transform(32, "base", *NORM))
        try:
            sample = dataset[0]
        except CorruptSampleError:
            return
        assert sample["image"].shape[1:] == sample["target"].shape
