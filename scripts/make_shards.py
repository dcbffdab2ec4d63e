"""Convert a data preset's file tree into shards, once: ``python -m scripts.make_shards
data=imagenet data.root=/data/imagenet out=/shards/imagenet`` (any override of
``configs/make_shards.yaml``). Prints what was written per split and every file left out
(also listed in the shard folder's manifest.json)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import hydra
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from src.data.shard_format import Manifest
from src.data.shard_writer import ConvertOptions, convert
from src.project_root import PROJECT_ROOT
from src.utils.config_validation import validate_config
from src.utils.table import Table, print_table


def compose_config(overrides: Sequence[str]) -> DictConfig:
    with initialize_config_dir(str(PROJECT_ROOT / "configs"), version_base="1.3"):
        return compose("make_shards", overrides=list(overrides))


def report(manifest: Manifest, out: str) -> Table:
    """Per split: the samples written and the files left out; under it, each of those."""
    table = Table(f"Shards of {manifest.source_root} in {out}", ["split", "written", "left out"])
    for split, summary in manifest.splits.items():
        table.add_row(split, str(summary.written), str(len(summary.unreadable)))
        table.notes += [f"left out: {entry.path}: {entry.reason}" for entry in summary.unreadable]
    if table.notes:
        table.notes.append(f"{len(table.notes)} files left out; the shards hold the rest")
    return table


def main(argv: Sequence[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = compose_config(argv)
    validate_config(cfg)
    datamodule = hydra.utils.instantiate(cfg.data, format="files")
    options = ConvertOptions(seed=cfg.seed, chunk_bytes=cfg.chunk_bytes, workers=cfg.workers)
    manifest = convert(datamodule, cfg.out, options)
    print_table(report(manifest, cfg.out))


if __name__ == "__main__":
    main(sys.argv[1:])
