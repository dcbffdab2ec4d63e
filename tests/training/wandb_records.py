"""Reading what an offline W&B run recorded, from its ``run-<id>.wandb`` file.

Offline runs keep everything in that one file (no ``config.yaml`` or summary file is written
until ``wandb sync``). It is a LevelDB-style log: after a 7-byte file header, 32 KiB blocks of
chunks, each with a 7-byte header (CRC, length, type) and a piece of a protobuf ``Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK_SIZE = 32 * 1024
FILE_HEADER = 7
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    records, pieces, position = [], b"", FILE_HEADER
    while position + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK_SIZE - position % BLOCK_SIZE
        _, length, kind = struct.unpack("<IHB", data[position : position + CHUNK_HEADER])
        if left_in_block < CHUNK_HEADER or (length == 0 and kind == 0):  # block padding
            position += left_in_block
            continue
        start = position + CHUNK_HEADER
        pieces += data[start : start + length]
        position = start + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pieces)
            records.append(record)
            pieces = b""
    return records


def run_contents(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's config (top-level keys, JSON-decoded) and its logged history rows."""
    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            updates = record.run.config.update
        elif kind == "config":
            updates = record.config.update
        elif kind == "history":
            history.append(
                {"/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            )
            continue
        else:
            continue
        config.update({item.key: json.loads(item.value_json) for item in updates})
    return config, history


def exit_code(path: Path) -> int | None:
    """The exit code the run's exit record holds (what W&B shows as finished when 0, failed
    otherwise), or None when the file has no exit record (the process died before writing it)."""
    exits = [record.exit for record in read_records(path) if record.HasField("exit")]
    return exits[-1].exit_code if exits else None
