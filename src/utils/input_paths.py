"""The files and folders a config names as input, checked before the run directory exists.

A data root, shard folder or weights file that is not there is otherwise found when the
datamodule or the model is built: after Hydra has created the run directory and written into
it, and as a traceback. :func:`check_input_paths` names the key, the path and the fix first.
Remote locations (``s3://``, the Hub) and the toy presets' generated set are left to their
readers.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.utils.config_validation import ConfigError

# keys that may name a weights file or folder (else true, null or a remote name)
WEIGHTS_KEYS = ("model.pretrained", "model.backbone.pretrained", "ckpt_path")
_NOT_A_PATH = ("last",)


def check_input_paths(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a missing data root or weights file named by ``cfg``."""
    _check_data_root(cfg)
    for key in WEIGHTS_KEYS:
        value = _select(cfg, key)
        local = isinstance(value, str) and value not in _NOT_A_PATH and _is_local(value)
        if local and not Path(value).exists():
            raise ConfigError(
                f"{key}={value} does not exist; set {key} to an existing file (or null)"
            )


def _check_data_root(cfg: DictConfig) -> None:
    root = _select(cfg, "data.root")
    if not isinstance(root, str) or not _is_local(root) or Path(root).exists():
        return
    if _select(cfg, "data.toy") or root == _select(cfg, "data.toy_root"):
        return  # a toy set is generated there
    layout = "a shard folder (python -m scripts.make_shards)"
    if _select(cfg, "data.format") != "shards":
        layout = "the folder holding train/ and val/"
    raise ConfigError(
        f"data.root={root} does not exist; set data.root to {layout} "
        "(or data.toy=true to generate a toy set there)"
    )


def _select(cfg: DictConfig, key: str) -> object:
    try:
        return OmegaConf.select(cfg, key)
    except OmegaConfBaseException:  # an interpolation that resolves only in the run
        return None


def _is_local(value: str) -> bool:
    return "://" not in value and not value.startswith("hf-hub:")
