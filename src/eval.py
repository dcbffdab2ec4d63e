"""Evaluate a checkpoint: ``python src/eval.py experiment=<preset> ckpt_path=<file.ckpt>``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

if __package__:  # python -m src.eval: the root is on sys.path already
    import src.project_root  # noqa: F401
else:  # python src/eval.py: only this folder is, so the root goes on sys.path before `src`
    import project_root  # noqa: F401
from src.pipeline import evaluate


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
