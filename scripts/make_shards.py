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
from hydra.errors import InstantiationException
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from src.data.shard_format import Manifest
from src.data.shard_writer import ConvertOptions, convert
from src.project_root import PROJECT_ROOT
from src.runs.error_report import instantiation_message
from src.utils.config_validation import ConfigError, validate_config
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
    """Convert as ``argv`` (overrides of configs/make_shards.yaml) says and print the report; a
    mistake in the command (a missing ``out=``, a data root without the expected layout, an
    ``out`` holding something else) stops with its message alone and status 1."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        manifest, out = convert_as_configured(argv)
    except MissingMandatoryValue as error:
        sys.exit(f"error: {error.full_key}= is missing; e.g. out=/shards/imagenet")
    except (ConfigError, FileNotFoundError, FileExistsError) as error:
        sys.exit(f"error: {error}")
    except InstantiationException as error:
        sys.exit(f"error: {instantiation_message(error)}")
    print_table(report(manifest, out))


def convert_as_configured(argv: Sequence[str]) -> tuple[Manifest, str]:
    cfg = compose_config(argv)
    validate_config(cfg)
    datamodule = hydra.utils.instantiate(cfg.data, format="files")
    options = ConvertOptions(
        seed=cfg.seed,
        chunk_bytes=cfg.chunk_bytes,
        workers=cfg.workers,
        max_short_side=cfg.max_short_side,
    )
    return convert(datamodule, cfg.out, options), cfg.out


if __name__ == "__main__":
    main(sys.argv[1:])
