"""Convert a file-tree data set into shards, once (``python -m scripts.make_shards``).

The items are the file-tree datamodule's own (its listing, classes and masks), shuffled with a
seed before writing: litdata shuffles only within a window of chunks, and a listing is sorted
by class. Each file is stored as it is (JPEG and PNG bytes; masks stay lossless) after being
decoded once with the datamodule's own checks, and a file that fails them, or an image without
its mask, is left out and listed by path and reason in the result and in the manifest. With
``max_short_side``, larger images are stored smaller instead (short side to that size, JPEG
quality 95; a mask resized alike, nearest neighbour, PNG), which shrinks a data set trained at
small crops; the samples are then no longer the files' exactly.

A conversion writes into ``<out>.partial`` and renames it to ``<out>`` when every split and the
manifest are written, so a folder named ``<out>`` is always complete. A split's summary is
written after its chunks, so a conversion that dies is finished by running it again: finished
splits are kept, an unfinished one is written again (all of it is, when the rerun asks for
another source or other options).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import albumentations as A
import cv2
import numpy as np
from litdata import __version__ as litdata_version
from litdata import optimize

from src.data.guarded_dataset import GuardedDataset
from src.data.image_io import CorruptSampleError, EncodedFile, read_mask, read_rgb
from src.data.shard_format import (
    MANIFEST,
    Manifest,
    SplitSummary,
    Unreadable,
    decode_record,
    encode_record,
)

if TYPE_CHECKING:  # the writer reads a file tree through its datamodule, never shards
    from src.data.datamodule import TrainValDataModule

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val")
_PLAN = "plan.json"


@dataclass(frozen=True)
class ConvertOptions:
    """``seed`` orders the samples in the shards; ``chunk_bytes`` is litdata's chunk size;
    ``workers`` are the processes that read and write; ``max_short_side`` (None: files as
    stored) re-encodes larger images smaller. Their defaults: configs/make_shards.yaml."""

    seed: int
    chunk_bytes: str
    workers: int
    max_short_side: int | None


@dataclass(frozen=True)
class _RecordWriter:
    """litdata's ``fn``, run in its worker processes: one file-tree item in, its record out,
    or nothing and a note of the file that failed the datamodule's checks."""

    decoder: GuardedDataset
    unreadable_dir: str
    max_short_side: int | None

    def __call__(self, task: tuple[int, tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
        index, item = task
        try:
            record = encode_record(index, item, self.decoder.fields)
            self.decoder.load(*decode_record(record, self.decoder.fields))
            if self.max_short_side is not None:
                record = _capped(record, self.max_short_side)
        except (CorruptSampleError, OSError) as err:
            path = err.path if isinstance(err, CorruptSampleError) else str(err.filename)
            reason = err.reason if isinstance(err, CorruptSampleError) else str(err)
            note = Path(self.unreadable_dir) / f"{index}.json"
            note.write_text(json.dumps(asdict(Unreadable(path, reason))))
            return
        yield record


def convert(datamodule: TrainValDataModule, out: str | Path, options: ConvertOptions) -> Manifest:
    """Write every split of ``datamodule``'s file tree as shards under ``out``; return the
    manifest (also ``out/manifest.json``). An ``out`` that already holds the same conversion
    is left as it is; one holding anything else is refused."""
    out = Path(out)
    datamodule.prepare_data()
    plan = {
        "dataset": datamodule.kind,
        "source_root": str(datamodule.root.resolve()),
        "classes": list(datamodule.class_names),
        "options": asdict(options),
    }
    if out.exists():
        return _finished(out, plan)
    work = out.with_name(out.name + ".partial")
    _start(work, plan)
    splits = {split: _convert_split(datamodule, split, work, options) for split in SPLITS}
    manifest = Manifest(splits=splits, **plan)
    manifest.options["engine"] = f"litdata {litdata_version}"
    (work / MANIFEST).write_text(manifest.to_json())
    (work / _PLAN).unlink()
    work.rename(out)
    return manifest


def _finished(out: Path, plan: dict[str, Any]) -> Manifest:
    if not (out / MANIFEST).is_file():
        raise FileExistsError(
            f"out='{out}' exists and is not a shard folder (no {MANIFEST}): choose another out="
        )
    manifest = Manifest.from_json((out / MANIFEST).read_text())
    made = {key: getattr(manifest, key) for key in plan}
    made["options"] = {k: v for k, v in manifest.options.items() if k in plan["options"]}
    if made != plan:
        raise FileExistsError(
            f"out='{out}' holds shards made from '{manifest.source_root}' with other settings "
            f"({manifest.options}): choose another out=, or delete it to convert again"
        )
    log.info("'%s' already holds this conversion; nothing to do", out)
    return manifest


def _start(work: Path, plan: dict[str, Any]) -> None:
    """Begin, or continue, the conversion in ``work``; one begun with another plan is dropped."""
    plan_file = work / _PLAN
    if work.exists() and not (plan_file.is_file() and json.loads(plan_file.read_text()) == plan):
        log.warning("'%s' holds an unfinished conversion of something else; starting over", work)
        shutil.rmtree(work)
    if work.exists():
        log.info("Continuing the unfinished conversion in '%s'", work)
        return
    work.mkdir(parents=True)
    plan_file.write_text(json.dumps(plan))


def _convert_split(
    datamodule: TrainValDataModule, split: str, work: Path, options: ConvertOptions
) -> SplitSummary:
    summary_file = work / f"{split}.json"
    if summary_file.is_file():
        log.info("Split %s was finished before; kept", split)
        return SplitSummary.from_dict(json.loads(summary_file.read_text()))
    chunks, notes = work / split, work / f"{split}.unreadable"
    for leftover in (chunks, notes):
        shutil.rmtree(leftover, ignore_errors=True)
    notes.mkdir()
    items, missing = datamodule.list_split(split)
    order = np.random.default_rng(options.seed).permutation(len(items))
    # decoding checks only: the transform is the identity
    decoder = datamodule.make_dataset([], A.Compose([]))
    optimize(
        fn=_RecordWriter(decoder, str(notes), options.max_short_side),
        inputs=[(int(index), items[index]) for index in order],
        output_dir=str(chunks),
        chunk_bytes=options.chunk_bytes,
        num_workers=options.workers,
        start_method="fork",  # the workers inherit the imported project instead of importing it
        reorder_files=False,
        keep_data_ordered=True,
        verbose=False,
    )
    corrupt = [Unreadable(**json.loads(note.read_text())) for note in notes.iterdir()]
    shutil.rmtree(notes)
    unreadable = sorted([*missing, *corrupt], key=lambda entry: entry.path)
    summary = SplitSummary(len(items), len(items) - len(corrupt), unreadable)
    summary_file.write_text(json.dumps(asdict(summary)))
    return summary


def _capped(record: dict[str, Any], max_short_side: int) -> dict[str, Any]:
    """``record`` with its image (and mask, if it has one) re-encoded at a short side of
    ``max_short_side`` when the image's is longer; unchanged otherwise."""
    image = read_rgb(EncodedFile(record["image_path"].decode(), record["image"]))
    height, width = image.shape[:2]
    scale = max_short_side / min(height, width)
    if scale >= 1:
        return record
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # OpenCV: (w, h)
    smaller = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    quality = [cv2.IMWRITE_JPEG_QUALITY, 95]
    record["image"] = _encoded(".jpg", cv2.cvtColor(smaller, cv2.COLOR_RGB2BGR), quality)
    if "mask" in record:
        mask = read_mask(EncodedFile(record["mask_path"].decode(), record["mask"]))
        record["mask"] = _encoded(".png", cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST))
    return record


def _encoded(extension: str, pixels: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, data = cv2.imencode(extension, pixels, params or [])
    if not ok:
        raise OSError(f"OpenCV could not encode a {extension} image")
    return data.tobytes()
