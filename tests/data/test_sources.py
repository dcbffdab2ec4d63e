"""``data.format`` chosen once: each value gives its source, any other is refused naming the key
and the choices, a missing data root is named with what it should hold, and the shard writer
does not reach the reading side."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src.data.sources import DATA_FORMATS, FileTree, Shards, check_data_root, data_source
from src.utils.config_validation import ConfigError
from tests.helpers import REPO_ROOT


def test_each_format_gives_its_source(tmp_path: Path) -> None:
    files = data_source("files", str(tmp_path))
    shards = data_source(
        "shards", "s3://bucket/imagenet", cache_dir=str(tmp_path), cache_size="1GB"
    )
    assert isinstance(files, FileTree) and files.root == str(tmp_path)
    assert isinstance(shards, Shards) and not isinstance(shards, FileTree)
    assert (shards.folder.root, shards.folder.cache_dir) == ("s3://bucket/imagenet", str(tmp_path))
    assert DATA_FORMATS == ("files", "shards") == (files.format, shards.format)


def test_an_unknown_format_is_refused_naming_the_key_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"data.format='tfrecord' is not one of \['files', 'shards'\]"
    ):
        data_source("tfrecord", str(tmp_path))
    # before a run: whether data.root exists or not
    cfg = OmegaConf.create({"data": {"root": str(tmp_path), "format": "tfrecord"}})
    with pytest.raises(ConfigError, match="data.format='tfrecord'"):
        check_data_root(cfg)


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        ("files", "set data.root to the folder holding train/ and val/"),
        ("shards", r"set data.root to a shard folder \(python -m scripts.make_shards\)"),
    ],
)
def test_a_missing_data_root_is_named_with_what_it_should_hold(
    format: str, expected: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    cfg = OmegaConf.create({"data": {"root": str(missing), "format": format, "toy": False}})
    with pytest.raises(ConfigError, match=f"data.root={missing} does not exist; {expected}"):
        check_data_root(cfg)
    check_data_root(OmegaConf.merge(cfg, {"data": {"toy": True}}))  # generated there: no error
    check_data_root(OmegaConf.merge(cfg, {"data": {"root": "s3://bucket/x"}}))  # left to litdata


# what only reading shards needs; writing them shares src.data.shard_format alone
READING = ("src.data.sources", "src.data.shard_reader", "src.data.shard_datasets")


def _runtime_imports(module: str) -> set[str]:
    """The project modules that importing ``module`` loads (imports under TYPE_CHECKING are
    for annotations and load nothing), followed from module to module."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        path = REPO_ROOT / Path(*name.split(".")).with_suffix(".py")
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                pending.append(node.module)
            elif isinstance(node, ast.Import):
                pending.extend(alias.name for alias in node.names)
    return seen


def test_the_shard_writer_does_not_import_the_reading_side() -> None:
    imported = _runtime_imports("src.data.shard_writer")
    assert "src.data.shard_format" in imported
    assert not [module for module in READING if module in imported]
