"""Where a backbone's pretrained weights are, for each form of ``pretrained``.

``pretrained=True`` looks for a variant's released weights, in order: a local weights directory
(``model.backbone.weights_dir``, then the ``RESNEST_WEIGHTS_DIR`` environment variable), the
torch hub cache, the official release (downloaded into that cache, hash-checked), then the
Hugging Face Hub copy (``timm/<name>``, ``model.safetensors`` with the official key names;
``HF_HUB_OFFLINE=1`` keeps it to the Hub's own cache). A failure names every place tried and how
to supply the file. ``"hf-hub:<repo>"``, a directory or a file name one place. The answer is a
path, how it was found, and the release record when the file is the released one; reading the
file is :mod:`src.models.backbones.weights_file`'s job.
"""

from __future__ import annotations

import logging
import os
import urllib.error
from pathlib import Path

import torch

from src.models.backbones.variants import HF_FILE, VARIANTS, PretrainedInfo
from src.models.backbones.weights_file import PretrainedWeightsError

log = logging.getLogger(__name__)

WEIGHTS_DIR_ENV = "RESNEST_WEIGHTS_DIR"
HF_HUB_PREFIX = "hf-hub:"


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
