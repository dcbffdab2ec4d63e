"""Loader section: training images per second through a real ``DataLoader``, as they reach the
model, from a file tree, from local shards and from shards on an S3-compatible server.

The data set is generated: an ImageNet-layout tree of photo-like JPEGs (the data section's,
ImageNet's typical size), converted once with ``python -m scripts.make_shards``'s own code; the
shards are then uploaded to moto's S3 server, started as a separate process on 127.0.0.1 (so
that it does not share this process's interpreter lock). Every candidate is one full training
epoch of the datamodule's own training loader (its transform, collate, sampler or litdata
stream), started fresh each time, worker start-up included and, for S3, with an empty chunk
cache, so every S3 epoch streams from the server.

Two ways of shipping batches from the workers are compared: float32 normalised in the worker
(the datamodules' default) and uint8 pixels normalised after the batch reaches the device
(``data.normalize_on_device=true``, the GPU presets' setting; on a CPU-only machine the device is
this process), which moves a quarter of the bytes between processes. A worker is one process with one thread: the
"cores per GPU" column is how many such workers a GPU training at 2,500 img/s (ResNet-50 with AMP
on one A100 trains at ~2,470) would need at this rate.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from scripts.bench.data import IMAGENET_SIZE, JPEG_QUALITY, photo_like
from scripts.bench.timing import Candidate, Measurement, measure_interleaved
from src.data.imagenet import ImageNetDataModule
from src.utils.table import Table, fmt

GPU_IMAGES_PER_S = 2500  # ResNet-50, AMP, one A100: ~2,470 img/s
WORKER_COUNTS = (1, 2)
CLASSES = 8
VAL_PER_CLASS = 1
BUCKET = "bench"
S3_CREDENTIALS = {
    "aws_access_key_id": "bench",
    "aws_secret_access_key": "bench",
    "region_name": "us-east-1",
}
SERVER_START_TIMEOUT_S = 60.0
# Chunks far smaller than make_shards' 64MB default, so that the few hundred generated images
# make many chunks, as a real data set does, and every worker streams its own.
CHUNK_BYTES = "4MB"


@dataclass(frozen=True)
class Shipping:
    """How a batch crosses from the workers to the model."""

    name: str
    uint8: bool  # True: uint8 pixels, normalised on the device


SHIPPINGS = (
    Shipping("float32, normalised in the worker", uint8=False),
    Shipping("uint8, normalised on the device", uint8=True),  # data.normalize_on_device=true
)


def write_imagenet_tree(root: Path, count: int, seed: int = 0) -> None:
    """``count`` photo-like training JPEGs in ``CLASSES`` class folders, and a small val/."""
    rng = np.random.default_rng(seed)
    quality = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    splits = {"train": count, "val": CLASSES * VAL_PER_CLASS}
    for split, images in splits.items():
        for index in range(images):
            folder = root / split / f"n{index % CLASSES:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = cv2.cvtColor(photo_like(rng, *IMAGENET_SIZE), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(folder / f"{split}_{index:05d}.JPEG"), pixels, quality)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server in its own process on 127.0.0.1: its endpoint URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def upload(folder: Path, endpoint: str, prefix: str) -> str:
    """Every file under ``folder`` into the bucket under ``prefix``: the ``s3://`` URL."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **S3_CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder)}")
    return f"s3://{BUCKET}/{prefix}"


@dataclass(frozen=True)
class Source:
    """Where a loader reads from: the datamodule's ``root``/``format`` and its settings."""

    name: str
    root: str
    format: str
    storage_options: dict[str, Any] | None = None
    fresh_cache_under: Path | None = None  # remote: a new empty chunk cache every epoch


def epoch_runner(
    source: Source,
    workers: int,
    shipping: Shipping,
    batch: int,
    crop: int,
    device: torch.device,
    expected: int,
) -> Callable[[], None]:
    """One fresh training epoch of ``source`` through the datamodule's loader."""
    settings = {"root": source.root, "format": source.format, "num_classes": CLASSES}
    settings |= {"batch_size": batch, "num_workers": workers, "train_crop": crop}
    settings |= {"persistent_workers": False, "storage_options": source.storage_options}
    settings |= {"normalize_on_device": shipping.uint8}

    def run() -> None:
        cache = None
        if source.fresh_cache_under is not None:
            cache = tempfile.mkdtemp(dir=source.fresh_cache_under)
        data = ImageNetDataModule(**settings, cache_dir=cache)
        data.setup("fit")
        seen = 0
        for batch in data.train_dataloader():
            batch["image"] = batch["image"].to(device, non_blocking=True)
            seen += len(data.on_after_batch_transfer(batch, 0)["image"])
        if seen != expected:
            raise RuntimeError(f"an epoch delivered {seen} images, expected {expected}")

    return run


def loader_section(
    count: int, batch: int, crop: int, repeats: int, warmup: int, device: torch.device
) -> list[Table]:
    """Throughput of every source x worker count x shipping, over ``count`` training images."""
    expected = count // batch * batch  # training loaders drop the last partial batch
    with tempfile.TemporaryDirectory(prefix="resnest-bench-loader-") as folder:
        work = Path(folder)
        write_imagenet_tree(work / "tree", count)
        sources = [Source("file tree", str(work / "tree"), "files")]
        notes: list[str] = []
        with _shards_and_server(work, notes) as shard_sources:
            sources += shard_sources
            settings = [
                (source, workers, shipping)
                for source in sources
                for workers in WORKER_COUNTS
                for shipping in SHIPPINGS
            ]
            candidates = [
                Candidate(
                    label(*setting),
                    epoch_runner(*setting, batch, crop, device, expected),
                    expected,
                )
                for setting in settings
            ]
            results = measure_interleaved(candidates, repeats, warmup, min_sample_s=0.0)
    table = _table(results, settings, count, batch, crop, device)
    table.notes += notes
    return [table]


@contextmanager
def _shards_and_server(work: Path, notes: list[str]) -> Iterator[list[Source]]:
    """The tree as local shards and as shards on a local S3 server, where litdata and moto are
    installed (a note says why a source is missing otherwise)."""
    try:
        from scripts.make_shards import convert_as_configured
    except ModuleNotFoundError as error:
        notes.append(f"shards not measured: {error} (pip install -e '.[shards]')")
        yield []
        return
    shards = work / "shards"
    tree = work / "tree"
    convert_as_configured(
        [
            "data=imagenet",
            f"data.root={tree}",
            f"data.num_classes={CLASSES}",
            f"out={shards}",
            f"chunk_bytes={CHUNK_BYTES}",
        ]
    )
    local = Source("local shards", str(shards), "shards")
    try:
        import moto.server  # noqa: F401  (the server runs as its own process)
    except ModuleNotFoundError as error:
        notes.append(f"S3 not measured: {error} (pip install -e '.[dev]')")
        yield [local]
        return
    with s3_server() as endpoint:
        url = upload(shards, endpoint, "imagenet")
        options = {"endpoint_url": endpoint, **S3_CREDENTIALS}
        caches = work / "caches"
        caches.mkdir()
        yield [local, Source("S3 shards (127.0.0.1)", url, "shards", options, caches)]


def label(source: Source, workers: int, shipping: Shipping) -> str:
    plural = "s" if workers > 1 else ""
    return f"{source.name}, {workers} worker{plural}, {shipping.name}"


def _table(
    results: dict[str, Measurement],
    settings: list[tuple[Source, int, Shipping]],
    count: int,
    batch: int,
    crop: int,
    device: torch.device,
) -> Table:
    table = Table(
        title=f"Loader: training epochs of {count} images, batch {batch}, {crop} px ({device})",
        columns=["loader", "img/s", "img/s per worker", "x file tree", "cores per GPU", "spread %"],
    )
    tree = settings[0][0]
    for source, workers, shipping in settings:
        name = label(source, workers, shipping)
        result = results[name]
        if result.failure:
            table.add_unmeasured(name, "failed", result.failure)
            continue
        baseline = results[label(tree, workers, shipping)]
        per_worker = result.rate / workers
        table.add_row(
            name,
            fmt(result.rate, 1),
            fmt(per_worker, 1),
            fmt(None if baseline.failure else result.rate / baseline.rate),
            fmt(GPU_IMAGES_PER_S / per_worker, 1),
            fmt(100 * result.spread, 0),
        )
    pinned = "pinned" if torch.cuda.is_available() else "not pinned (no CUDA)"
    table.notes += [
        "Each epoch: a fresh datamodule and loader (ImageNet's training transform: random "
        "resized crop, flip, colour jitter), worker start-up included; S3 epochs start from "
        f"an empty chunk cache, from a server on the same cores. Memory {pinned}; shards "
        f"in {CHUNK_BYTES} chunks.",
        f"cores per GPU: workers needed for {GPU_IMAGES_PER_S:,} img/s at this rate per worker "
        "(one core each), besides the training process's own.",
    ]
    return table
