"""Decode images and label masks from disk into plain uint8 arrays.

Real datasets contain a few odd files (grayscale or CMYK JPEGs, 16-bit or RGBA PNGs, palette
masks) and, at scale, a few broken ones. Odd files are converted here so the transforms only
ever see RGB ``(H, W, 3)`` or label ``(H, W)`` uint8 arrays; broken files raise
:class:`CorruptSampleError`, which the datamodules turn into an error or a skipped sample
according to ``data.on_corrupt``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# OpenCV's own thread pool does not survive fork(): a DataLoader worker forked while the pool
# exists can deadlock in its first cv2 call. Images are processed one per worker anyway, so
# the pool is switched off before any worker is forked.
cv2.setNumThreads(0)

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
# 8000 x 8000, far above any ImageNet or ADE20K image. A larger declared size almost always
# means a damaged header, and decoding it would allocate gigabytes in a loader worker.
MAX_IMAGE_PIXELS = 64_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PALETTE_COLOUR_TYPE = 3
_JPEG_SOI = b"\xff\xd8"
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"
# JPEGs are 8-bit grey or colour, so OpenCV can hand them over as RGB directly. EXIF
# orientation stays ignored, as for every other file (and in Pillow and torchvision).
_JPEG_TO_RGB = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION


class CorruptSampleError(ValueError):
    """A sample file cannot be decoded into a usable image or mask.

    The message names the file and the two ways out (fix the file, or skip such samples), so
    whoever meets it in a long training log knows what to do without reading code.
    """

    def __init__(self, path: ImageSource, reason: str) -> None:
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"Corrupt sample '{self.path}': {self.reason}. Remove or replace the file, or set "
            "data.on_corrupt=skip to drop such samples (each is logged once)."
        )


@dataclass(frozen=True)
class EncodedFile:
    """A file's bytes already in memory (read from a shard), under the path it came from.

    The readers below take one wherever they take a path, so a sample read from shards goes
    through exactly the decoding and checks of the same file read from disk, and an error
    names the original file.
    """

    path: str
    data: bytes

    def __str__(self) -> str:
        return self.path


ImageSource = str | Path | EncodedFile


def is_image_file(name: str) -> bool:
    """Whether a file name has one of :data:`IMAGE_EXTENSIONS` (any letter case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def read_rgb(path: ImageSource) -> np.ndarray:
    """Read any common image file as an RGB ``(H, W, 3)`` uint8 array.

    Grayscale is replicated to three channels, alpha is dropped, 16-bit data keeps its 8 most
    significant bits, and palette/CMYK images come out as RGB, so none of them stops training.
    JPEGs (nearly every ImageNet and ADE20K file) are decoded straight to RGB, which saves
    a colour-conversion pass; a JPEG that OpenCV cannot decode takes the general path.
    """
    data = _read_bytes(path)
    if data.startswith(_JPEG_SOI):
        if not _jpeg_is_complete(data):
            raise CorruptSampleError(
                path, "JPEG data ends before the end-of-image marker (truncated)"
            )
        _check_declared_size(path, data)
        rgb = _opencv_decode(data, _JPEG_TO_RGB)
        if rgb is not None:
            return rgb
    return _to_rgb(path, _decode(path, data))


def _to_rgb(path: ImageSource, pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 from whatever :func:`_decode` returned (OpenCV's BGR(A) or grey)."""
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.dtype != np.uint8:
        raise CorruptSampleError(path, f"unsupported pixel type {pixels.dtype}; convert to 8-bit")
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    channels = pixels.shape[2]
    if channels in (1, 2):  # grey, or grey + alpha
        return cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    raise CorruptSampleError(path, f"unsupported channel count {channels}")


def read_mask(path: ImageSource) -> np.ndarray:
    """Read a label mask as an ``(H, W)`` uint8 array of class indices.

    Palette PNGs are read as their indices (not their display colours), because in
    segmentation datasets the index is the label. Anything that is not single-channel 8-bit
    has no unambiguous label per pixel and is rejected.
    """
    data = _read_bytes(path)
    if _is_palette_png(data):
        return _decode_palette_indices(path, data)
    labels = _decode(path, data)
    if labels.ndim == 3 and labels.shape[2] == 1:
        labels = labels[:, :, 0]
    if labels.ndim != 2 or labels.dtype != np.uint8:
        shape = "x".join(str(size) for size in labels.shape)
        raise CorruptSampleError(
            path, f"mask must be single-channel 8-bit, got shape {shape} of {labels.dtype}"
        )
    return labels


def _read_bytes(path: ImageSource) -> bytes:
    if isinstance(path, EncodedFile):
        data = path.data
        if not data:
            raise CorruptSampleError(path, "the file is empty")
        return data
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise CorruptSampleError(path, f"cannot read the file ({err.strerror or err})") from err
    if not data:
        raise CorruptSampleError(path, "the file is empty")
    return data


def _decode(path: ImageSource, data: bytes) -> np.ndarray:
    """Decode with OpenCV, falling back to Pillow for formats OpenCV was built without."""
    _check_declared_size(path, data)
    pixels = _opencv_decode(data, cv2.IMREAD_UNCHANGED)
    if pixels is not None:
        return pixels
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            pixels = np.asarray(image)
    except Exception as err:  # Pillow raises many types on garbage; all mean "not an image".
        raise CorruptSampleError(path, f"not a decodable image ({err})") from err
    # Pillow returns RGB(A); return OpenCV's channel order so callers handle one convention.
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    return pixels


def _opencv_decode(data: bytes, flags: int) -> np.ndarray | None:
    """OpenCV's decoding of ``data``, or None where OpenCV cannot decode it."""
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        return None


def _check_declared_size(path: ImageSource, data: bytes) -> None:
    """Reject images whose header declares more than :data:`MAX_IMAGE_PIXELS` pixels.

    Pillow reads only the header here; formats it cannot parse are left to the decoders.
    """
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Image.DecompressionBombError as err:
        raise CorruptSampleError(
            path, f"the header declares an implausibly large image ({err})"
        ) from err
    except Exception:  # Not a format Pillow can parse: nothing declared to check.
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise CorruptSampleError(
            path,
            f"the header declares {width}x{height} pixels, more than {MAX_IMAGE_PIXELS:,}; "
            "the header is probably damaged (or downscale the image offline)",
        )


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether the last scan is followed by an end-of-image marker.

    Some OpenCV builds decode a truncated JPEG without error and fill the missing rows with
    grey. Entropy-coded data cannot contain the EOI marker (0xFF is byte-stuffed), so a
    complete file has EOI after its last start-of-scan, even with an embedded thumbnail.
    A file that ends with EOI has it after every scan, so only the first scan is looked up;
    the backward search over the whole file (about 0.1 ms for 100 KiB) is left for files
    with bytes after their EOI.
    """
    if data.endswith(_JPEG_EOI):
        return data.find(_JPEG_SOS) >= 0
    last_scan = data.rfind(_JPEG_SOS)
    return last_scan >= 0 and data.find(_JPEG_EOI, last_scan) >= 0


def _is_palette_png(data: bytes) -> bool:
    # IHDR is always the first chunk: 8-byte signature, 8-byte chunk header, width, height,
    # bit depth, then the colour type at byte 25.
    return (
        data.startswith(_PNG_SIGNATURE) and len(data) > 25 and data[25] == _PNG_PALETTE_COLOUR_TYPE
    )


def _decode_palette_indices(path: ImageSource, data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode != "P":
                raise CorruptSampleError(path, f"palette PNG decoded as mode {image.mode}")
            return np.array(image, dtype=np.uint8)
    except CorruptSampleError:
        raise
    except Exception as err:  # Pillow raises many types on garbage; all mean "not a mask".
        raise CorruptSampleError(path, f"not a decodable palette PNG ({err})") from err
