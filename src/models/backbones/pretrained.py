"""Loading official (or local) ResNeSt weights safely and with errors that say what to do.

Every file goes through ``torch.load(..., weights_only=True)``, so a checkpoint that would run
code when unpickled is refused. Downloads and cached files are checked against the SHA-256 prefix
that the official file names carry.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import urllib.error
import zipfile
from pathlib import Path

import torch
from torch import nn

from src.models.backbones.variants import VARIANTS, PretrainedInfo

log = logging.getLogger(__name__)

_HASHED_NAME = re.compile(r"-(?P<prefix>[0-9a-f]{8,64})\.(pth|pt|bin)$")
CLASSIFIER_PREFIX = "fc."


class PretrainedWeightsError(ValueError):
    """A checkpoint could not be used; the message names the file and the fix."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_hash(path: Path, expected_prefix: str) -> None:
    actual = sha256_of(path)
    if not actual.startswith(expected_prefix):
        raise PretrainedWeightsError(
            f"checkpoint {path} has SHA-256 {actual[:12]}…, expected a hash starting with "
            f"{expected_prefix}: the file is corrupt or not the official one. Delete it to "
            f"download it again, or pass model.backbone.pretrained=/path/to/your.pth."
        )


def official_checkpoint(name: str, info: PretrainedInfo) -> Path:
    """Return the cached official checkpoint of ``name``, downloading it once if needed."""
    cache = Path(torch.hub.get_dir()) / "checkpoints" / info.file_name(name)
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        url = info.url(name)
        log.info("Downloading %s weights from %s", name, url)
        try:
            torch.hub.download_url_to_file(url, str(cache), hash_prefix=info.sha256_prefix)
        except (urllib.error.URLError, OSError) as error:
            raise PretrainedWeightsError(
                f"could not download the official {name} weights from {url} ({error}). "
                f"Download the file elsewhere and pass it as a local file: "
                f"model.backbone.pretrained=/path/to/{info.file_name(name)} "
                f"(or place it at {cache})."
            ) from error
        except RuntimeError as error:  # torch.hub's hash mismatch
            raise PretrainedWeightsError(
                f"download of {url} failed its hash check: {error}"
            ) from error
    verify_hash(cache, info.sha256_prefix)
    return cache


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a file, refusing anything but tensors and plain containers."""
    if not path.is_file():
        raise PretrainedWeightsError(
            f"pretrained file {path} does not exist; set model.backbone.pretrained to an existing "
            f".pth file, to true for the official weights, or to null."
        )
    match = _HASHED_NAME.search(path.name)
    if match:
        verify_hash(path, match["prefix"])
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise PretrainedWeightsError(
            f"refused to load {path}: it holds pickled objects other than tensors, which could "
            f"run code (torch.load weights_only=True rejected it: {error}). Re-save the weights "
            f"with torch.save(model.state_dict(), path) from a trusted environment."
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise PretrainedWeightsError(
            f"could not read checkpoint {path}: {error}. The file is truncated or corrupt; "
            f"download it again."
        ) from error
    for key in ("state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise PretrainedWeightsError(
            f"{path} does not hold a state dict (found {type(checkpoint)})."
        )
    return {key.removeprefix("module."): value for key, value in checkpoint.items()}


def classifier_fits(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> bool:
    """Whether the checkpoint's ``fc.*`` tensors have the shapes of the model's classifier."""
    own = model.state_dict()
    return all(
        key in own and own[key].shape == value.shape
        for key, value in state_dict.items()
        if key.startswith(CLASSIFIER_PREFIX)
    )


def load_pretrained(model: nn.Module, name: str, pretrained: bool | str) -> None:
    """Load official weights (``pretrained=True``) or a local file into ``model``, in place.

    A classifier of another size (or a model built without one) keeps its own initialisation,
    with a logged notice; any other difference raises, listing missing and unexpected keys.
    """
    if pretrained is True:
        info = VARIANTS[name].pretrained
        if info is None:
            with_weights = [n for n, v in VARIANTS.items() if v.pretrained is not None]
            raise PretrainedWeightsError(
                f"model.backbone.pretrained=true: there is no official checkpoint for {name!r} "
                f"(available for {with_weights}); pass a local file path or null."
            )
        path = official_checkpoint(name, info)
    else:
        path = Path(str(pretrained)).expanduser()
    state_dict = read_state_dict(path)
    own = model.state_dict()
    classifier_fits_model = classifier_fits(model, state_dict)
    if not classifier_fits_model:
        log.warning(
            "The classifier in %s does not fit this model (%s): it is not loaded.",
            path,
            ", ".join(
                f"{k} {tuple(v.shape)}"
                for k, v in state_dict.items()
                if k.startswith(CLASSIFIER_PREFIX)
            ),
        )
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIX)}
        own = {k: v for k, v in own.items() if not k.startswith(CLASSIFIER_PREFIX)}
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    reshaped = sorted(
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    )
    if missing or unexpected or reshaped:
        raise PretrainedWeightsError(
            f"checkpoint {path} does not match backbone {name!r} with these settings.\n"
            f"  missing keys ({len(missing)}): {_preview(missing)}\n"
            f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}\n"
            f"  shapes differing (checkpoint vs model) ({len(reshaped)}): {_preview(reshaped)}\n"
            f"Check that the overrides (radix, cardinality, bottleneck_width, stem_width, "
            f"norm_layer, ...) match the architecture the checkpoint was trained with."
        )
    model.load_state_dict(state_dict, strict=classifier_fits_model)


def _preview(keys: list[str], limit: int = 10) -> str:
    return ", ".join(keys[:limit]) + (" ..." if len(keys) > limit else "")
