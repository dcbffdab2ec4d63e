"""What a shard folder holds: litdata chunks per split, and a manifest of what they were made from.

Layout (written by :mod:`src.data.shard_writer`, read by :mod:`src.data.shard_datasets`)::

    <root>/manifest.json      this module's Manifest: source, classes, options, per-split counts
    <root>/<split>/index.json  litdata's index of the split's chunks
    <root>/<split>/chunk-*.bin

A record is one item of the file-tree datamodule (ImageNet ``(path, label)``, ADE20K
``(image path, mask path)``) with each file's bytes as stored, its original path (for error
messages) and its index in the file tree's listing, which keeps its augmentation seed the
file tree's (see :mod:`src.data.samplers`). ``root`` is a local folder or ``s3://bucket/prefix``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from src.data.image_io import EncodedFile, ImageSource
from src.utils.config_validation import ConfigError

MANIFEST = "manifest.json"
# Bump when the record or manifest layout changes; older shard folders are then refused.
FORMAT_VERSION = 1
INDEX_KEY = "index"
_PATH_SUFFIX = "_path"
# litdata's wheel requires torchvision, which this project does without (its PyPI build would
# replace a CPU torch wheel): litdata comes without its declared dependencies, its real ones
# with the project's "shards" extra. The version the tests ran with:
LITDATA_INSTALL = 'pip install --no-deps litdata==0.2.76 && pip install -e ".[shards]"'


@dataclass(frozen=True)
class Unreadable:
    """A listed file that is not in the shards, and why (corrupt, or a mask that is missing)."""

    path: str
    reason: str


@dataclass
class SplitSummary:
    """One split: how many items the file-tree dataset has (``listed``; the records' indices
    are positions in it), how many of them were written, and the files left out (corrupt
    ones, and images without a mask, which never formed an item)."""

    listed: int
    written: int
    unreadable: list[Unreadable] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SplitSummary:
        unreadable = [Unreadable(**entry) for entry in raw["unreadable"]]
        return cls(raw["listed"], raw["written"], unreadable)


@dataclass
class Manifest:
    """What a shard folder was made from; the datamodule checks it against the data config."""

    dataset: str
    source_root: str
    classes: list[str]
    options: dict[str, Any]
    splits: dict[str, SplitSummary]
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        splits = {name: SplitSummary.from_dict(split) for name, split in raw.pop("splits").items()}
        return cls(splits=splits, **raw)


def encode_record(index: int, item: Sequence[Any], fields: Sequence[str]) -> dict[str, Any]:
    """The record of file-tree item ``index``: each path field becomes the file's bytes (key
    ``<field>``) and its path (``<field>_path``, UTF-8); other fields (labels) stay as they are."""
    record: dict[str, Any] = {INDEX_KEY: index}
    for name, value in zip(fields, item, strict=True):
        if isinstance(value, str | Path):
            record[name] = Path(value).read_bytes()
            # as bytes: litdata would store a string that names an image file as that image
            record[name + _PATH_SUFFIX] = str(value).encode()
        else:
            record[name] = value
    return record


def decode_record(record: Mapping[str, Any], fields: Sequence[str]) -> tuple[Any, ...]:
    """The item of ``record`` as the file-tree dataset's ``load`` takes it, files in memory."""
    item: list[ImageSource | Any] = []
    for name in fields:
        path = record.get(name + _PATH_SUFFIX)
        value = record[name]
        item.append(EncodedFile(bytes(path).decode(), bytes(value)) if path is not None else value)
    return tuple(item)


def is_remote(root: str) -> bool:
    """Whether ``root`` is an object-store URL (``s3://...``) rather than a local folder."""
    return urlparse(root).scheme not in ("", "file")


def split_dir(root: str, split: str) -> str:
    return f"{root.rstrip('/')}/{split}"


def read_manifest(root: str, storage_options: Mapping[str, Any] | None = None) -> Manifest:
    """The manifest of the shard folder ``root``; the error names the folder and the fix."""
    location = split_dir(root, MANIFEST)
    try:
        text = _read_text(location, storage_options or {})
    except FileNotFoundError as err:
        raise ConfigError(
            f"data.root='{root}' (data.format=shards) holds no {MANIFEST}: it is not a finished "
            "shard folder. Convert the data set with python -m scripts.make_shards "
            "data=<preset> out=<folder> and point data.root at that folder, or set "
            "data.format=files for a file tree."
        ) from err
    manifest = Manifest.from_json(text)
    if manifest.format_version != FORMAT_VERSION:
        raise ConfigError(
            f"the shards at data.root='{root}' are of format {manifest.format_version}, this "
            f"code reads format {FORMAT_VERSION}: convert again with python -m scripts.make_shards"
        )
    return manifest


def check_manifest(manifest: Manifest, root: str, dataset: str, num_classes: int | None) -> None:
    """Refuse shards made from another kind of data set, or with another class count than the
    data config declares (None: any), naming the key and the fix."""
    made_from = f"(made from '{manifest.source_root}')"
    if manifest.dataset != dataset:
        raise ConfigError(
            f"data.root='{root}' holds {manifest.dataset} shards {made_from}, but the data "
            f"config is for {dataset}: point data.root at {dataset} shards, or choose the data "
            f"preset of {manifest.dataset}"
        )
    if num_classes is not None and len(manifest.classes) != num_classes:
        raise ConfigError(
            f"data.num_classes={num_classes}, but the shards at data.root='{root}' {made_from} "
            f"have {len(manifest.classes)} classes: set data.num_classes={len(manifest.classes)}, "
            "or convert the data set again with the wanted classes"
        )


def _read_text(location: str, storage_options: Mapping[str, Any]) -> str:
    """A small file of a local folder or of an S3-compatible store (boto3, as litdata reads)."""
    url = urlparse(location)
    if not is_remote(location):
        return Path(location).read_text()
    if url.scheme != "s3":
        raise ConfigError(f"'{location}': shards are read from local folders and s3:// URLs")
    import boto3  # installed with the "shards" extra, like litdata
    from botocore.exceptions import ClientError

    client = boto3.client("s3", **storage_options)
    try:
        body = client.get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
            raise FileNotFoundError(location) from err
        raise
    return body.read().decode()


@dataclass(frozen=True)
class ShardSource:
    """Where a shard folder is (``data.root``: a folder, or ``s3://bucket/prefix``), how to
    reach it (``data.storage_options``: boto3 client arguments such as ``endpoint_url``; the
    standard AWS environment variables apply too), and where its chunks are cached
    (``data.cache_dir``, bounded by ``data.cache_size``; local folders are read in place)."""

    root: str
    cache_dir: str | None = None
    cache_size: str | None = None
    storage_options: Mapping[str, Any] | None = None

    def manifest(self, dataset: str, num_classes: int | None) -> Manifest:
        """The folder's manifest, checked against the data config."""
        manifest = read_manifest(self.root, self.storage_options)
        check_manifest(manifest, self.root, dataset, num_classes)
        return manifest

    def stream(self, split: str, **options: Any) -> dict[str, Any]:
        """litdata ``StreamingDataset`` arguments for ``split``."""
        return {
            "input_dir": split_dir(self.root, split),
            "cache_dir": self._cache(split),
            "max_cache_size": self.cache_size,
            "storage_options": dict(self.storage_options or {}),
            **options,
        }

    def _cache(self, split: str) -> str | None:
        """One cache folder per shard folder and split: litdata names every split's chunks
        alike, and two data sets cached in one folder would read each other's chunks."""
        if self.cache_dir is None or not is_remote(self.root):
            return None
        digest = hashlib.sha1(self.root.encode()).hexdigest()[:12]
        return str(Path(self.cache_dir) / digest / split)
