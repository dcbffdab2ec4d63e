"""Where a datamodule's samples come from (``data.format``), chosen once.

``data.format`` is read here and nowhere else. :func:`data_source` turns it into a
:class:`FileTree` (``files``: the data set's own folders, listed and decoded file by file) or
:class:`Shards` (``shards``: a folder made from such a tree by ``python -m scripts.make_shards``,
local or in S3-compatible storage, streamed by litdata). Both answer the same questions, so
the datamodules, loaders and samplers ask their source instead of asking which format it is:
what to do before reading (:meth:`~DataSource.prepare`), the class names, each split's dataset
and its size, and whether ``data.root`` is there (:func:`check_data_root`, before a run starts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from omegaconf import DictConfig

from src.data.shard_reader import LITDATA_INSTALL, ShardLocation
from src.utils.config_validation import ConfigError
from src.utils.input_paths import select_or_none

if TYPE_CHECKING:
    import albumentations as A
    from torch.utils.data import Dataset

    from src.data.guarded_dataset import GuardedDataset
    from src.data.shard_format import Manifest


class TreeData(Protocol):
    """What a dataset's datamodule says about its file tree; a source reads the data set
    through it (a file tree directly, shards by decoding their records as the tree's files)."""

    kind: str  # the data set's name in a shard manifest ("imagenet", "ade20k")
    seed: int

    @property
    def declared_num_classes(self) -> int | None: ...

    def prepare_tree(self) -> None: ...

    def tree_class_names(self) -> list[str]: ...

    def list_items(self, split: str) -> list[tuple[Any, ...]]: ...

    def make_dataset(
        self, items: Sequence[tuple[Any, ...]], transform: A.Compose
    ) -> GuardedDataset: ...


class DataSource:
    """What every source answers. ``root`` is ``data.root`` as given; ``location`` is how
    messages name it."""

    format: ClassVar[str]  # its value of data.format
    # how the message for a missing data.root describes what it should name
    expected_root: ClassVar[str]

    def __init__(self, root: str) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return self.root

    def check_exists(self) -> None:
        """Raise :class:`ConfigError` for a local ``data.root`` that is not there, with the fix;
        a remote one (``s3://``) is left to its reader."""
        if "://" in self.root or Path(self.root).exists():
            return
        raise ConfigError(
            f"data.root={self.root} does not exist; set data.root to {self.expected_root} "
            "(or data.toy=true to generate a toy set there)"
        )

    def prepare(self, data: TreeData) -> None:
        """What has to happen once before the data is read (Lightning's ``prepare_data``)."""
        raise NotImplementedError

    def class_names(self, data: TreeData) -> list[str]:
        """The class names in label order."""
        raise NotImplementedError

    def open_split(self, data: TreeData, split: str, transform: A.Compose, train: bool) -> Dataset:
        """``split`` as a dataset of ``data``'s samples, each transformed by ``transform``."""
        raise NotImplementedError

    def split_size(self, data: TreeData, split: str, dataset: Dataset) -> int:
        """How many samples ``split`` (opened as ``dataset``) holds across all processes."""
        raise NotImplementedError


class FileTree(DataSource):
    """The data set's own folders at ``root``, as its datamodule lists and decodes them."""

    format = "files"
    expected_root = "the folder holding train/ and val/"

    @property
    def location(self) -> str:
        return str(Path(self.root))

    def prepare(self, data: TreeData) -> None:
        data.prepare_tree()

    def class_names(self, data: TreeData) -> list[str]:
        return data.tree_class_names()

    def open_split(self, data: TreeData, split: str, transform: A.Compose, train: bool) -> Dataset:
        return data.make_dataset(data.list_items(split), transform)

    def split_size(self, data: TreeData, split: str, dataset: Dataset) -> int:
        return len(dataset)


class Shards(DataSource):
    """A shard folder made from the data set's file tree (see :class:`ShardLocation` for where
    it is and how its chunks are cached). Its manifest, read once and checked against the data
    config, gives the class names and the split sizes; records decode as the tree's files do."""

    format = "shards"
    expected_root = "a shard folder (python -m scripts.make_shards)"

    def __init__(self, location: ShardLocation) -> None:
        super().__init__(location.root)
        self.folder = location
        self._manifest: Manifest | None = None

    def manifest(self, data: TreeData) -> Manifest:
        """The shard folder's manifest, checked against ``data``'s config on first use."""
        if self._manifest is None:
            self._manifest = self.folder.manifest(data.kind, data.declared_num_classes)
        return self._manifest

    def prepare(self, data: TreeData) -> None:
        """Nothing: a shard folder is made by ``scripts.make_shards``, never generated here."""

    def class_names(self, data: TreeData) -> list[str]:
        return self.manifest(data).classes

    def open_split(self, data: TreeData, split: str, transform: A.Compose, train: bool) -> Dataset:
        try:  # litdata is installed apart (docs/data.md): only shards need it
            from src.data.shard_datasets import ShardEvalSet, ShardTrainSet
        except ModuleNotFoundError as err:
            raise ConfigError(
                f"data.format=shards needs litdata ({err}): {LITDATA_INSTALL}"
            ) from err
        decoder = data.make_dataset([], transform)
        summary = self.manifest(data).splits[split]
        if train:
            return ShardTrainSet(self.folder, split, decoder, data.seed, summary.listed)
        return ShardEvalSet(self.folder, split, decoder, summary.written)

    def split_size(self, data: TreeData, split: str, dataset: Dataset) -> int:
        # a streamed split's own length is one process's share
        return self.manifest(data).splits[split].written


DATA_FORMATS: tuple[str, ...] = (FileTree.format, Shards.format)
DEFAULT_FORMAT = FileTree.format


def data_source(
    format: str,
    root: str,
    *,
    cache_dir: str | None = None,
    cache_size: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> DataSource:
    """The source that ``data.format`` names, reading ``data.root``; ``cache_dir``,
    ``cache_size`` and ``storage_options`` concern shards only (see :class:`ShardLocation`)."""
    if format == FileTree.format:
        return FileTree(root)
    if format == Shards.format:
        return Shards(ShardLocation(root, cache_dir, cache_size, storage_options))
    raise ConfigError(
        f"data.format={format!r} is not one of {list(DATA_FORMATS)}: set "
        f"data.format={FileTree.format} for a data set's own folders, or "
        f"data.format={Shards.format} for a folder made by python -m scripts.make_shards"
    )


def check_data_root(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a ``data.format`` that names no source, or a local
    ``data.root`` that does not exist (unless a toy set is generated there), before the run
    directory exists. Keys that resolve only in the run are left to the datamodule."""
    root = select_or_none(cfg, "data.root")
    if not isinstance(root, str):
        return
    chosen = select_or_none(cfg, "data.format")
    source = data_source(DEFAULT_FORMAT if chosen is None else chosen, root)
    if select_or_none(cfg, "data.toy") or root == select_or_none(cfg, "data.toy_root"):
        return  # a toy set is generated there
    source.check_exists()
