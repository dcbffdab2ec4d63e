"""A Hydra callback that stops a multirun whose jobs would train wrongly, before any job runs.

Under Hydra's basic launcher a DDP trainer would make Lightning re-run the command line (the
whole sweep) in every rank; under a submitit launcher the trainer's process count must be the
job's task count. Hydra turns exceptions raised in callbacks into warnings, so the check
stops the program with ``SystemExit`` and the message.
"""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from src.cluster.process_layout import (
    SUBMITIT_LAUNCHER_MODULE,
    SUBMITIT_PRESETS,
    check_layout,
    reruns_command_line,
)
from src.cluster.submitit_environment import current_job
from src.utils.config_validation import ConfigError


def check_multirun(config: DictConfig) -> None:
    """Raise :class:`ConfigError` when the jobs of this multirun cannot train as configured."""
    launcher = config.hydra.launcher
    trainer = config.trainer
    if str(launcher._target_).startswith(SUBMITIT_LAUNCHER_MODULE):
        check_layout(trainer, int(launcher.tasks_per_node), int(launcher.nodes))
    elif reruns_command_line(trainer):
        presets = " or ".join(f"hydra/launcher={name}" for name in SUBMITIT_PRESETS)
        raise ConfigError(
            f"Hydra multirun (-m) with a DDP trainer (trainer.strategy={trainer.get('strategy')}, "
            f"trainer.devices={trainer.get('devices')}, trainer.num_nodes="
            f"{trainer.get('num_nodes')}) under the {launcher._target_} launcher: Lightning "
            "would start the extra ranks by re-running this command line, so every rank would "
            f"run the whole sweep. Add {presets} (configs/hydra/launcher/): submitit starts "
            "one process per rank for each job. Or sweep one process per run (trainer=cpu, "
            "trainer=gpu)."
        )


class LaunchCheck(Callback):
    """Checks each multirun (and each of its jobs, whose trainer may be a swept choice)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _stop_on_error(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Also, in a submitit task, give Lightning's rank-zero guard the task's rank from the
        start: the run records and the config tree are written before the trainer exists."""
        if config.hydra.mode == RunMode.MULTIRUN:
            _stop_on_error(config)
        job = current_job()
        if job is not None:
            rank_zero_only.rank = job.global_rank


def _stop_on_error(config: DictConfig) -> None:
    try:
        check_multirun(config)
    except ConfigError as error:
        raise SystemExit(f"Error: {error}") from error
