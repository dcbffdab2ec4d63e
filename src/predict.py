"""Predict a folder of images: ``python src/predict.py input=<folder> <weights> [overrides]``.

The weights are a run's checkpoint (``ckpt_path=``) or whatever the composed model loads, as
for ``src/eval.py`` (README, "Prediction"); a segmentor writes masks, overlays and on request
score maps, a classifier a top-k CSV.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

if __package__:  # python -m src.predict: the root is on sys.path already
    from src.project_root import PROJECT_ROOT
else:  # python src/predict.py: only this folder is, so the root goes on sys.path before `src`
    from project_root import PROJECT_ROOT
from src.prediction.run import predict
from src.runs.command_line import check_command_line
from src.runs.error_report import report_errors
from src.utils.config_validation import ConfigError


@hydra.main(version_base="1.3", config_path="../configs", config_name="predict.yaml")
@report_errors
def main(cfg: DictConfig) -> list[Path]:
    return predict(cfg)


if __name__ == "__main__":
    try:
        check_command_line(sys.argv[1:], PROJECT_ROOT / "configs", "predict")
    except ConfigError as error:
        sys.exit(f"error: {error}")
    main()
