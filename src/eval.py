"""Evaluate a checkpoint: ``python src/eval.py experiment=<preset> ckpt_path=<file.ckpt>``."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

if __package__:  # python -m src.eval: the root is on sys.path already
    from src.project_root import PROJECT_ROOT
else:  # python src/eval.py: only this folder is, so the root goes on sys.path before `src`
    from project_root import PROJECT_ROOT
from src.pipeline import evaluate
from src.runs.command_line import check_command_line
from src.runs.error_report import report_errors
from src.utils.config_validation import ConfigError


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
@report_errors
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    try:
        check_command_line(sys.argv[1:], PROJECT_ROOT / "configs", "eval")
    except ConfigError as error:
        sys.exit(f"error: {error}")
    main()
