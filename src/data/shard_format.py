"""What a shard folder holds: litdata chunks per split, and a manifest of what they were made from.

The one description both sides share: written by :mod:`src.data.shard_writer`, read by
:mod:`src.data.shard_reader` and :mod:`src.data.shard_datasets`, neither importing the other.
Layout::

    <root>/manifest.json      this module's Manifest: source, classes, options, per-split counts
    <root>/<split>/index.json  litdata's index of the split's chunks
    <root>/<split>/chunk-*.bin

A record is one item of the file-tree datamodule (ImageNet ``(path, label)``, ADE20K
``(image path, mask path)``) with each file's bytes as stored, its original path (for error
messages) and its index in the file tree's listing, which keeps its augmentation seed the
file tree's (see :mod:`src.data.samplers`). ``root`` is a local folder or ``s3://bucket/prefix``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from src.data.image_io import EncodedFile, ImageSource

MANIFEST = "manifest.json"
# Bump when the record or manifest layout changes; older shard folders are then refused.
FORMAT_VERSION = 1
INDEX_KEY = "index"
_PATH_SUFFIX = "_path"


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
