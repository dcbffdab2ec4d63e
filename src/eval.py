"""Evaluate a checkpoint: ``python src/eval.py experiment=<preset> ckpt_path=<file.ckpt>``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import project_root  # noqa: F401  (beside this file: the root on sys.path, before `src`)
from src.pipeline import evaluate


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
