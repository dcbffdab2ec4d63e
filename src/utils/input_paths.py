"""The weights files a config names as input, checked before the run directory exists.

A weights file that is not there is otherwise found when the model is built: after Hydra has
created the run directory and written into it, and as a traceback. :func:`check_input_paths`
names the key, the path and the fix first. Remote locations (the Hub) are left to their
readers. The data root is checked alike by its data source
(:func:`src.data.sources.check_data_root`), which knows what it should hold.
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
    """Raise :class:`ConfigError` for a missing weights file named by ``cfg``."""
    for key in WEIGHTS_KEYS:
        value = select_or_none(cfg, key)
        local = isinstance(value, str) and value not in _NOT_A_PATH and _is_local(value)
        if local and not Path(value).exists():
            raise ConfigError(
                f"{key}={value} does not exist; set {key} to an existing file (or null)"
            )


def select_or_none(cfg: DictConfig, key: str) -> object:
    """``cfg``'s value at ``key``; None when it is absent or resolves only in the run."""
    try:
        return OmegaConf.select(cfg, key)
    except OmegaConfBaseException:  # an interpolation that resolves only in the run
        return None


def _is_local(value: str) -> bool:
    return "://" not in value and not value.startswith("hf-hub:")
