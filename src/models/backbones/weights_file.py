"""Reading one weights file into a state dict: checked against the hash its name carries, and
without running code.

Every backbone and whole-model weights file goes through :func:`read_state_dict`, whatever
found it (:mod:`src.models.backbones.weights_sources`) and whatever it is loaded into.
``.safetensors`` files are read with ``safetensors`` (no pickle at all), PyTorch files with the
project's one reader of them (``src/utils/checkpoint_io.py``, ``torch.load(weights_only=True)``,
beside the sniffer that tells the two formats apart). A file whose name carries an official
SHA-256 prefix is checked against it; a wrong file where the right one should be stops the load
rather than being used. :class:`PretrainedWeightsError` is the error of every step of loading
weights (finding, reading, fitting), so callers catch one type.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from src.utils.checkpoint_io import CheckpointLoadError, file_kind, read_checkpoint

_HASHED_NAME = re.compile(r"-(?P<prefix>[0-9a-f]{8,64})\.(pth|pt|bin)$")
WEIGHTS_FILE_KINDS = (
    "a PyTorch file written by torch.save (a state dict, or a checkpoint holding one under "
    "'state_dict' or 'model'), or a .safetensors file"
)


class PretrainedWeightsError(ValueError):
    """A checkpoint could not be found or used; the message names the file and the fix."""


def sha256_of(path: Path) -> str:
    return _digest(path, "sha256")


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_hash(path: Path, expected_prefix: str, algorithm: str = "sha256") -> None:
    """Raise unless the file's digest (SHA-256, or e.g. ``sha1`` for PyTorch-Encoding's zoo
    files) starts with ``expected_prefix``."""
    actual = sha256_of(path) if algorithm == "sha256" else _digest(path, algorithm)
    if not actual.startswith(expected_prefix):
        raise PretrainedWeightsError(
            f"checkpoint {path} has {algorithm.upper()} {actual[:12]}…, expected a hash starting with "
            f"{expected_prefix}: the file is corrupt or not the official one. Delete it to "
            f"download it again, or pass the path of the right file."
        )


def read_state_dict(path: Path, check_name_hash: bool = True) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.pth``/``.pt``/``.bin`` or ``.safetensors`` file, running no code.

    A name ending in ``-<hex>.pth`` is checked as a SHA-256 prefix (the official release's
    naming) unless ``check_name_hash`` is False (the caller checked it another way)."""
    if not path.is_file():
        raise PretrainedWeightsError(
            f"pretrained file {path} does not exist; set model.backbone.pretrained to an existing "
            f"weights file, to true for the released weights, or to null."
        )
    match = _HASHED_NAME.search(path.name)
    if match and check_name_hash:
        verify_hash(path, match["prefix"])
    kind = file_kind(path)
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as error:
            raise PretrainedWeightsError(
                f"could not read safetensors file {path}: {error}. The file is truncated or "
                f"corrupt; download it again."
            ) from error
    if kind is None:
        with path.open("rb") as handle:
            start = handle.read(16)
        raise PretrainedWeightsError(
            f"{path} is not a weights file (it starts with {start!r}). A weights file is "
            f"{WEIGHTS_FILE_KINDS}."
        )
    try:
        checkpoint = read_checkpoint(path, advice="download it again")
    except CheckpointLoadError as error:
        raise PretrainedWeightsError(str(error)) from error
    for key in ("state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict) or not all(
        isinstance(value, torch.Tensor) for value in checkpoint.values()
    ):
        raise PretrainedWeightsError(
            f"{path} does not hold a state dict of tensors (found {type(checkpoint).__name__}). "
            f"A weights file is {WEIGHTS_FILE_KINDS}."
        )
    return {key.removeprefix("module."): value for key, value in checkpoint.items()}
