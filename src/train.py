"""Train a model: ``python src/train.py experiment=<preset> [overrides]``.

Composes the config, checks it, instantiates datamodule / model / callbacks / loggers / trainer,
fits, then validates the best checkpoint. Returns the optimised metric (for sweeps).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

if __package__:  # python -m src.train: the root is on sys.path already
    from src.project_root import PROJECT_ROOT
else:  # python src/train.py: only this folder is, so the root goes on sys.path before `src`
    from project_root import PROJECT_ROOT
from src.pipeline import train
from src.runs.command_line import check_command_line
from src.runs.error_report import report_errors
from src.runs.lock import claim_pinned_run_dir
from src.runs.resume import resume_command_line
from src.utils.config_validation import ConfigError


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
@report_errors
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    try:  # resume=<run> becomes that run's directory, saved overrides and ckpt_path=last
        sys.argv[1:] = resume_command_line(sys.argv[1:], PROJECT_ROOT / "configs", "train")
        check_command_line(sys.argv[1:], PROJECT_ROOT / "configs", "train")
        claim_pinned_run_dir(sys.argv[1:])  # one writer per run, from before Hydra writes into it
    except ConfigError as error:
        sys.exit(f"error: {error}")
    main()
