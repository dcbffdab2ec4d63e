"""Reading a shard folder (:mod:`src.data.shard_format`): its manifest, checked against the data
config, and where litdata finds its chunks, in a local folder or in S3-compatible storage.

The datasets that stream the chunks are :mod:`src.data.shard_datasets` (they need litdata,
installed apart); :class:`~src.data.sources.Shards` puts the two together for a datamodule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from src.data.shard_format import FORMAT_VERSION, MANIFEST, Manifest
from src.utils.config_validation import ConfigError

# litdata's wheel requires torchvision, which this project does without (its PyPI build would
# replace a CPU torch wheel): litdata comes without its declared dependencies, its real ones
# with the project's "shards" extra. The version the tests ran with:
LITDATA_INSTALL = 'pip install --no-deps litdata==0.2.76 && pip install -e ".[shards]"'


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
class ShardLocation:
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
