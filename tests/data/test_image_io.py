"""Decoding of odd-but-valid files (converted) and broken files (CorruptSampleError)."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from src.data.image_io import CorruptSampleError, is_image_file, read_mask, read_rgb
from tests.data.builders import encode, random_rgb

RGB = random_rgb(24, 32)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "max_error"),
    [
        ("png.png", encode(Image.fromarray(RGB), "PNG"), 0),
        ("jpeg.jpg", encode(Image.fromarray(RGB), "JPEG", quality=95), 8),
        ("rgba.png", encode(Image.fromarray(RGB).convert("RGBA"), "PNG"), 0),
        ("cmyk.jpg", encode(Image.fromarray(RGB).convert("CMYK"), "JPEG", quality=95), 8),
        ("palette.png", encode(Image.fromarray(RGB).quantize(256), "PNG"), 40),
        (
            "rgb16.png",
            cv2.imencode(".png", RGB[:, :, ::-1].astype(np.uint16) * 257)[1].tobytes(),
            0,
        ),
        ("webp.webp", encode(Image.fromarray(RGB), "WEBP", lossless=True), 0),
        ("bmp.bmp", encode(Image.fromarray(RGB), "BMP"), 0),
    ],
)
def test_colour_formats_decode_to_rgb(
    tmp_path: Path, name: str, data: bytes, max_error: int
) -> None:
    image = read_rgb(_write(tmp_path / name, data))
    assert image.shape == (24, 32, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - RGB).mean() <= max_error


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("grey.jpg", encode(Image.fromarray(RGB).convert("L"), "JPEG")),
        ("grey_alpha.png", encode(Image.fromarray(RGB).convert("LA"), "PNG")),
        ("grey16.png", cv2.imencode(".png", RGB[:, :, 0].astype(np.uint16) * 257)[1].tobytes()),
    ],
)
def test_grey_formats_are_replicated_to_three_channels(
    tmp_path: Path, name: str, data: bytes
) -> None:
    image = read_rgb(_write(tmp_path / name, data))
    assert image.shape == (24, 32, 3) and image.dtype == np.uint8
    assert (image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("truncated.jpg", encode(Image.fromarray(RGB), "JPEG")[:-200], "truncated"),
        ("random.jpg", np.random.default_rng(0).bytes(500), "not a decodable image"),
        ("empty.png", b"", "empty"),
        ("truncated.png", encode(Image.fromarray(RGB), "PNG")[:100], "not a decodable image"),
    ],
)
def test_broken_images_raise_corrupt_sample_error(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = _write(tmp_path / name, data)
    with pytest.raises(CorruptSampleError, match=reason) as caught:
        read_rgb(path)
    message = str(caught.value)
    assert str(path) in message and "data.on_corrupt=skip" in message
    assert isinstance(caught.value, ValueError) and caught.value.path == str(path)


def test_jpeg_cut_just_before_its_end_marker_is_truncated(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.jpg", encode(Image.fromarray(RGB), "JPEG")[:-2])
    with pytest.raises(CorruptSampleError, match="truncated"):
        read_rgb(path)


def test_jpeg_with_bytes_after_its_end_marker_decodes(tmp_path: Path) -> None:
    data = encode(Image.fromarray(RGB), "JPEG", quality=95) + b"\0" * 64
    image = read_rgb(_write(tmp_path / "padded.jpg", data))
    assert image.shape == (24, 32, 3) and np.abs(image.astype(int) - RGB).mean() <= 8


def test_jpeg_exif_orientation_is_ignored(tmp_path: Path) -> None:
    # Pillow and torchvision's loader ignore it too; rotating would change the stored image.
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(Image.fromarray(RGB), "JPEG", quality=95, exif=exif.tobytes())
    assert read_rgb(_write(tmp_path / "rotated.jpg", data)).shape == (24, 32, 3)


def test_missing_file_is_a_corrupt_sample(tmp_path: Path) -> None:
    with pytest.raises(CorruptSampleError, match="cannot read"):
        read_rgb(tmp_path / "gone.jpg")


def test_implausible_declared_size_is_rejected_without_decoding(tmp_path: Path) -> None:
    data = bytearray(encode(Image.fromarray(RGB), "PNG"))
    data[16:24] = (9000).to_bytes(4, "big") + (8000).to_bytes(4, "big")  # IHDR width, height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # keep the header valid
    with pytest.raises(CorruptSampleError, match="9000x8000"):
        read_rgb(_write(tmp_path / "huge.png", bytes(data)))


def test_corrupt_sample_error_survives_pickling() -> None:
    # DataLoader workers pickle exceptions back to the main process.
    error = pickle.loads(pickle.dumps(CorruptSampleError("a/b.jpg", "bad")))
    assert error.path == "a/b.jpg" and error.reason == "bad" and "a/b.jpg" in str(error)


def test_grey_mask_reads_as_labels(tmp_path: Path) -> None:
    labels = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32).astype(np.uint8) % 151
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), labels)
    np.testing.assert_array_equal(read_mask(path), labels)


def test_palette_mask_reads_as_indices_not_colours(tmp_path: Path) -> None:
    labels = (np.arange(24 * 32).reshape(24, 32) % 7).astype(np.uint8)
    image = Image.fromarray(labels, mode="P")
    image.putpalette(np.random.default_rng(0).integers(0, 256, 768, dtype=np.uint8).tobytes())
    path = _write(tmp_path / "palette.png", encode(image, "PNG"))
    np.testing.assert_array_equal(read_mask(path), labels)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rgb.png", encode(Image.fromarray(RGB), "PNG")),
        ("deep.png", cv2.imencode(".png", np.full((4, 4), 300, np.uint16))[1].tobytes()),
    ],
)
def test_mask_that_is_not_single_channel_8bit_is_corrupt(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = _write(tmp_path / name, data)
    with pytest.raises(CorruptSampleError, match="single-channel 8-bit") as caught:
        read_mask(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("name", ["a.JPEG", "a.jpg", "a.Jpeg", "a.PNG", "a.bmp", "a.WebP"])
def test_image_extensions_ignore_case(name: str) -> None:
    assert is_image_file(name)


@pytest.mark.parametrize("name", ["a.txt", "a", "a.jpg.part", "LOC_val_solution.csv"])
def test_other_files_are_not_images(name: str) -> None:
    assert not is_image_file(name)
