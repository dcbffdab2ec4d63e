"""The images of a folder, read one at a time, where a file that cannot be read is reported
once and passed over (or, with ``on_corrupt="error"``, stops the run), so one bad photo among
thousands costs its own prediction only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from src.data.corrupt import check_on_corrupt
from src.data.image_io import CorruptSampleError, is_image_file, read_rgb

log = logging.getLogger(__name__)


@dataclass
class FolderImages:
    """The image files of ``source`` (``paths``, in name order), iterated as
    ``(path, RGB array)``.

    ``unreadable`` lists, in folder order, the files passed over so far; the caller reports
    how many failed once every other image is done.
    """

    source: Path
    on_corrupt: str = "skip"
    paths: list[Path] = field(init=False)
    unreadable: list[Path] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        check_on_corrupt(self.on_corrupt, key="on_corrupt")
        if not self.source.is_dir():
            raise FileNotFoundError(f"input={self.source} is not a folder; name a folder of images")
        self.paths = sorted(
            p for p in self.source.iterdir() if p.is_file() and is_image_file(p.name)
        )
        if not self.paths:
            raise FileNotFoundError(f"no images (.jpg, .png, ...) in {self.source}")

    def __iter__(self) -> Iterator[tuple[Path, np.ndarray]]:
        for path in self.paths:
            try:
                rgb = read_rgb(path)
            except CorruptSampleError as error:
                if self.on_corrupt == "error":
                    raise
                log.warning("cannot read %s: %s; skipped", path, error.reason)
                self.unreadable.append(path)
                continue
            yield path, rgb
