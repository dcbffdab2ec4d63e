"""How Lightning writes and reads checkpoint files: atomically, and never running pickled code.

Lightning's default writer opens ``last.ckpt`` for writing and streams the bytes in, so a job
killed at that moment (preemption, OOM killer, a node going down) leaves a truncated
``last.ckpt`` and nothing to resume from. Here the bytes go to a temporary file in the same
folder, are flushed to disk, and only then renamed over the old file: at any instant the path
holds either the previous checkpoint or the new one, complete. A write the file system refuses
(no space, no permission) is raised as :class:`~src.utils.write_failures.RunWriteError` naming the
file, and a warning comes as soon as the next save will not fit.

Every read uses ``torch.load(weights_only=True)``: checkpoints hold tensors and plain
containers only, and a file carrying other pickled objects (which could run code when
loaded) is refused. A file that is not a checkpoint at all, or a damaged one, is named as
such: torch reports both as a failed weights-only load too. Local file systems only (run
directories live there).
"""

from __future__ import annotations

import os
import pickle
import uuid
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from src.utils.write_failures import checked_write_error, warn_if_next_save_will_not_fit

# torch.save writes a zip archive; files of its legacy format are a pickle stream (protocol 2).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"
# What to do about a damaged checkpoint of a run.
RESUME_ADVICE = "resume from another checkpoint (ckpt_path=<file>) or start afresh (ckpt_path=null)"
# How torch's weights-only unpickler words a refused class or function (the thing that could
# run code), as opposed to bytes it cannot parse.
_REFUSED_GLOBAL = "GLOBAL "
_UNPICKLER_DETAIL = "WeightsUnpickler error:"


class CheckpointLoadError(RuntimeError):
    """A checkpoint file that cannot be read safely: corrupt, or holding pickled code."""


class CorruptCheckpoint(CheckpointLoadError):
    """A checkpoint file that is truncated, damaged or not a checkpoint at all."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write-to-temp-then-rename checkpoint saving; ``weights_only=True`` loading."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                "AtomicCheckpointIO does not take storage_options; remove them from the "
                "save_checkpoint call"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # a fresh name in the same folder (a rename across file systems is not atomic); opened
        # with open() rather than mkstemp so the file gets the usual umask permissions
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(temporary, "xb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException as error:
            temporary.unlink(missing_ok=True)
            refused = checked_write_error(error, path)  # torch words a full disk its own way
            if refused is not None:
                raise refused from error
            raise
        _fsync_directory(path.parent)
        warn_if_next_save_will_not_fit(path, path.stat().st_size)

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Any | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Load ``path`` with ``weights_only=True`` whatever ``weights_only`` asks for."""
        return read_checkpoint(path, map_location)


def read_checkpoint(
    path: str | Path,
    map_location: Any | None = None,
    mmap: bool = False,
    advice: str = RESUME_ADVICE,
) -> Any:
    """``torch.load(path, weights_only=True)``, the one reader of PyTorch files (checkpoints,
    state dicts, zoo files), with errors that name the file; ``advice`` is what to do about a
    damaged one where it is read. ``mmap`` maps the tensors instead of reading them (to check a
    file cheaply)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint '{path}' does not exist; check ckpt_path (ckpt_path=last resumes "
            "from <run dir>/checkpoints/last.ckpt when there is one)"
        )
    zipped = _check_format(path)
    try:
        return torch.load(
            path,
            map_location=map_location or (lambda storage, _: storage),
            weights_only=True,
            mmap=mmap and zipped,  # torch maps only its zip format
        )
    except pickle.UnpicklingError as error:
        if _REFUSED_GLOBAL not in str(error):
            raise _corrupt(path, _unpickler_detail(error), advice) from error
        raise CheckpointLoadError(
            f"refused to load checkpoint '{path}': it holds pickled objects other than "
            f"tensors and plain containers, which could run code when loaded "
            f"(torch.load weights_only=True rejected it: {_unpickler_detail(error)}). "
            "Load only files you trust; to use this one, load it yourself with "
            "weights_only=False in a trusted environment and re-save its tensors."
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, KeyError) as error:
        raise _corrupt(path, str(error), advice) from error


def _check_format(path: Path) -> bool:
    """Refuse a file that is in neither of torch.save's formats, before unpickling anything;
    whether it is in the zip one."""
    with path.open("rb") as file:
        head = file.read(len(_ZIP_MAGIC))
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO):
        return head.startswith(_ZIP_MAGIC)
    found = "it is empty" if not head else f"it starts with {head!r}"
    raise CorruptCheckpoint(
        f"'{path}' is not a PyTorch checkpoint ({found}; torch.save writes a zip archive). "
        "Check that ckpt_path names a .ckpt file written by training, e.g. "
        "<run dir>/checkpoints/last.ckpt."
    )


def _corrupt(path: Path, detail: str, advice: str) -> CorruptCheckpoint:
    return CorruptCheckpoint(f"checkpoint '{path}' is truncated or corrupt ({detail}); {advice}")


def file_kind(path: Path) -> str | None:
    """``"safetensors"``, ``"torch"`` (zip archive or pickle) or None, from the first bytes."""
    with path.open("rb") as handle:
        start = handle.read(9)
    # safetensors first: its 8-byte header length may itself start with a pickle's 0x80
    if len(start) == 9 and start[8:9] == b"{":  # the header length, then its JSON
        header = int.from_bytes(start[:8], "little")
        if 0 < header <= path.stat().st_size - 8:
            return "safetensors"
    if start.startswith(_ZIP_MAGIC) or start.startswith(_PICKLE_PROTO):
        return "torch"
    return None


def _unpickler_detail(error: pickle.UnpicklingError) -> str:
    """The part of torch's long weights-only message that says what was found."""
    text = str(error)
    if _UNPICKLER_DETAIL in text:
        text = text.rsplit(_UNPICKLER_DETAIL, 1)[1]
    else:
        text = text.split("\n\n", 1)[-1]  # after torch's general advice on weights_only
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    return (paragraphs or [str(error)])[0].split(". Please use", 1)[0]


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (it is recorded in the directory, not the file)."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
