"""Train a model: ``python src/train.py experiment=<preset> [overrides]``.

Composes the config, checks it, instantiates datamodule / model / callbacks / loggers / trainer,
fits, then validates the best checkpoint. Returns the optimised metric (for sweeps).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
if str(PROJECT_ROOT) not in sys.path:  # `python src/train.py` without an installed package
    sys.path.insert(0, str(PROJECT_ROOT))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.pipeline import train  # noqa: E402
from src.utils.config_validation import ConfigError  # noqa: E402
from src.utils.resume import resume_command_line  # noqa: E402


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    try:  # resume=<run> becomes that run's directory, saved overrides and ckpt_path=last
        sys.argv[1:] = resume_command_line(sys.argv[1:], PROJECT_ROOT / "configs", "train")
    except ConfigError as error:
        sys.exit(f"error: {error}")
    main()
