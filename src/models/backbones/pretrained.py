"""Finding and loading ResNeSt weights safely, with errors that say what to do.

``pretrained=True`` looks for a variant's released weights, in order: a local weights directory
(``model.backbone.weights_dir``, then the ``RESNEST_WEIGHTS_DIR`` environment variable), the
torch hub cache, the official release, then the Hugging Face Hub copy (``timm/<name>``,
``model.safetensors`` with the official key names; ``HF_HUB_OFFLINE=1`` keeps it to the Hub's
own cache). A failure names every place tried and how to supply the file.

Files are read without running code: ``.safetensors`` with ``safetensors`` (no pickle at all),
PyTorch files with the project's one reader of them (``src/utils/checkpoint_io.py``,
``torch.load(weights_only=True)``). A file whose name carries an official
SHA-256 prefix is checked against it; a wrong file where the right one should be stops the
lookup rather than being skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from src.models.backbones.variants import HF_FILE, VARIANTS, PretrainedInfo
from src.utils.checkpoint_io import CheckpointLoadError, file_kind, read_checkpoint

log = logging.getLogger(__name__)

WEIGHTS_DIR_ENV = "RESNEST_WEIGHTS_DIR"
HF_HUB_PREFIX = "hf-hub:"
_HASHED_NAME = re.compile(r"-(?P<prefix>[0-9a-f]{8,64})\.(pth|pt|bin)$")
CLASSIFIER_PREFIX = "fc."
WEIGHTS_FILE_KINDS = (
    "a PyTorch file written by torch.save (a state dict, or a checkpoint holding one under "
    "'state_dict' or 'model'), or a .safetensors file"
)


class PretrainedWeightsError(ValueError):
    """A checkpoint could not be found or used; the message names the file and the fix."""


@dataclass(frozen=True)
class LoadedWeights:
    """What a model was initialised from (kept on the model as ``pretrained_cfg``).

    ``info`` is the variant's release record (protocol, reported accuracy) when the weights are
    that variant's released ones, else None.
    """

    name: str
    source: str
    path: Path
    sha256: str
    info: PretrainedInfo | None


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


def release_file_names(name: str, info: PretrainedInfo | None) -> list[str]:
    """The names of ``name``'s released weights: the official release's and the Hub copy's."""
    names = []
    if info is not None and info.sha256_prefix:
        names.append(info.file_name(name))
    if info is not None and info.hf_hub_id:
        names.append(f"{info.hf_hub_id.split('/')[-1]}.safetensors")
    return names


def local_file_names(name: str, info: PretrainedInfo | None) -> list[str]:
    """File names under which a weights directory may hold ``name``'s weights."""
    return [*release_file_names(name, info), f"{name}.safetensors", f"{name}.pth"]


def file_in_directory(directory: Path, names: list[str]) -> Path | None:
    return next((directory / n for n in names if (directory / n).is_file()), None)


def weights_directories(weights_dir: str | None) -> list[tuple[str, Path]]:
    """The configured local weights directories, config key first."""
    found = []
    if weights_dir:
        found.append(("model.backbone.weights_dir", Path(weights_dir).expanduser()))
    if os.environ.get(WEIGHTS_DIR_ENV):
        found.append((f"${WEIGHTS_DIR_ENV}", Path(os.environ[WEIGHTS_DIR_ENV]).expanduser()))
    return found


def hub_cache_file(name: str, info: PretrainedInfo) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / info.file_name(name)


def download_official(name: str, info: PretrainedInfo) -> Path:
    """Download the official release file into the torch hub cache (hash-checked)."""
    cache = hub_cache_file(name, info)
    cache.parent.mkdir(parents=True, exist_ok=True)
    url = info.url(name)
    log.info("Downloading %s weights from %s", name, url)
    try:
        torch.hub.download_url_to_file(url, str(cache), hash_prefix=info.sha256_prefix)
    except RuntimeError as error:  # torch.hub's hash mismatch
        raise PretrainedWeightsError(f"download of {url} failed its hash check: {error}") from error
    return cache


def download_from_hub(repo_id: str, filename: str = HF_FILE) -> Path:
    """A file of a Hugging Face Hub repository, via the Hub's cache (honours HF_HUB_OFFLINE)."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, filename))


def find_released(name: str, info: PretrainedInfo, weights_dir: str | None) -> tuple[Path, str]:
    """The path of ``name``'s released weights and where it was found, trying every source."""
    tried: list[str] = []
    candidates = local_file_names(name, info)
    for label, directory in weights_directories(weights_dir):
        found = file_in_directory(directory, candidates)
        if found is not None:
            return found, f"local weights directory ({label})"
        tried.append(f"{label} = {directory}: none of {', '.join(candidates)}")
    if info.sha256_prefix:
        cache = hub_cache_file(name, info)
        if cache.is_file():
            return cache, "torch hub cache"
        tried.append(f"torch hub cache: no {cache}")
        try:
            return download_official(name, info), "official release"
        except (urllib.error.URLError, OSError) as error:
            tried.append(f"official release {info.url(name)}: {error}")
    if info.hf_hub_id:
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return download_from_hub(info.hf_hub_id), f"Hugging Face Hub ({info.hf_hub_id})"
        except (OSError, EntryNotFoundError, ValueError) as error:
            tried.append(f"Hugging Face Hub {info.hf_hub_id}/{HF_FILE}: {error}")
    where = "\n".join(f"  - {line}" for line in tried)
    downloads = " or ".join(info.download_urls(name))
    raise PretrainedWeightsError(
        f"model.backbone.pretrained=true: could not find the released {name} weights. Tried, "
        f"in order:\n{where}\nDownload {downloads} on a machine with access and either put it "
        f"in a weights directory as {candidates[0]} (set model.backbone.weights_dir or "
        f"${WEIGHTS_DIR_ENV}), or pass model.backbone.pretrained=/path/to/{candidates[0]}."
    )


def resolve_weights(
    name: str, pretrained: bool | str, weights_dir: str | None = None
) -> tuple[Path, str, PretrainedInfo | None]:
    """``(path, source, release info)`` for a ``pretrained`` setting.

    ``True``: the variant's released weights (see :func:`find_released`); ``"hf-hub:<repo>"``:
    that Hub repository's ``model.safetensors``; a directory: the first of the variant's file
    names (or ``model.safetensors``) in it; anything else: a file path. The release info
    (protocol, reported figures) comes with released weights: ``True``, the variant's own Hub
    repository, or a file named as the release; any other file is the user's own.
    """
    info = VARIANTS[name].pretrained
    if pretrained is True:
        if info is None:
            with_weights = [n for n, v in VARIANTS.items() if v.pretrained is not None]
            raise PretrainedWeightsError(
                f"model.backbone.pretrained=true: there are no released weights for {name!r} "
                f"(available for {with_weights}); pass a local file path or null."
            )
        path, source = find_released(name, info, weights_dir)
        return path, source, info
    spec = str(pretrained)
    if spec.startswith(HF_HUB_PREFIX):
        repo_id = spec.removeprefix(HF_HUB_PREFIX)
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = download_from_hub(repo_id)
        except (OSError, EntryNotFoundError, ValueError) as error:
            raise PretrainedWeightsError(
                f"model.backbone.pretrained={spec}: could not get {HF_FILE} from the Hugging "
                f"Face Hub ({error}). Download it elsewhere and pass its path instead."
            ) from error
        same = info is not None and info.hf_hub_id == repo_id
        return path, f"Hugging Face Hub ({repo_id})", info if same else None
    path = Path(spec).expanduser()
    if path.is_dir():
        names = [*local_file_names(name, info), HF_FILE]
        found = file_in_directory(path, names)
        if found is None:
            raise PretrainedWeightsError(
                f"model.backbone.pretrained={path} is a directory without weights for {name}: "
                f"looked for {', '.join(names)}."
            )
        path = found
    # Only a file named as the release is taken to be it (with its protocol and figures).
    released = info if path.name in release_file_names(name, info) else None
    return path, "local file", released


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


def classifier_fits(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> bool:
    """Whether the checkpoint's ``fc.*`` tensors have the shapes of the model's classifier."""
    own = model.state_dict()
    return all(
        key in own and own[key].shape == value.shape
        for key, value in state_dict.items()
        if key.startswith(CLASSIFIER_PREFIX)
    )


def load_pretrained(
    model: nn.Module, name: str, pretrained: bool | str, weights_dir: str | None = None
) -> LoadedWeights:
    """Load released weights (``pretrained=True``), a Hub copy, a directory or a file, in place.

    A classifier of another size (or a model built without one) keeps its own initialisation,
    with a logged notice; any other difference raises, listing missing and unexpected keys.
    """
    path, source, info = resolve_weights(name, pretrained, weights_dir)
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
    check_keys(state_dict, own, path, f"backbone {name!r}")
    model.load_state_dict(state_dict, strict=classifier_fits_model)
    log.info("Loaded %s weights from %s (%s)", name, path, source)
    return LoadedWeights(name, source, path, sha256_of(path), info)


def check_keys(
    state_dict: dict[str, torch.Tensor], own: dict[str, torch.Tensor], path: Path, what: str
) -> None:
    """Raise one error listing every missing, unexpected and reshaped key, or return."""
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    reshaped = sorted(
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    )
    if missing or unexpected or reshaped:
        raise PretrainedWeightsError(
            f"checkpoint {path} does not match {what} with these settings.\n"
            f"  missing keys ({len(missing)}): {_preview(missing)}\n"
            f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}\n"
            f"  shapes differing (checkpoint vs model) ({len(reshaped)}): {_preview(reshaped)}\n"
            f"Check that the overrides (radix, cardinality, bottleneck_width, stem_width, "
            f"norm_layer, heads, num_classes, ...) match the architecture the checkpoint was "
            f"trained with."
        )


def _preview(keys: list[str], limit: int = 10) -> str:
    return ", ".join(keys[:limit]) + (" ..." if len(keys) > limit else "")
