"""Evaluate a checkpoint: ``python src/eval.py experiment=<preset> ckpt_path=<file.ckpt>``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
if str(PROJECT_ROOT) not in sys.path:  # `python src/eval.py` without an installed package
    sys.path.insert(0, str(PROJECT_ROOT))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.pipeline import evaluate  # noqa: E402


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
