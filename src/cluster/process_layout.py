"""How many training processes a trainer config asks for, and who starts them.

Lightning starts the processes of most multi-process strategies by re-running the command
line once per extra device. Under a Hydra multirun that command line is the whole sweep, so
every rank would run every job. Under submitit the launcher has already started one process
per task, so the trainer's devices and nodes must be the job's tasks per node and nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hydra
from omegaconf import DictConfig

from src.cluster.submitit_environment import current_job, environment_for
from src.utils.config_validation import ConfigError

# Strategies Lightning starts with multiprocessing (spawn/fork): they never re-run the command
# line, but under submitit the tasks are already the processes, so they become plain `ddp`.
MULTIPROCESSING_STRATEGIES = frozenset({"ddp_spawn", "ddp_fork", "ddp_notebook"})
# The launcher presets that start one process per task (configs/hydra/launcher/).
SUBMITIT_PRESETS = ("submitit_local", "submitit_slurm")
SUBMITIT_LAUNCHER_MODULE = "hydra_plugins.hydra_submitit_launcher"


def requested_devices(devices: Any) -> int | None:
    """The process count ``trainer.devices`` asks for per node; None for 'all' (-1, auto)."""
    if isinstance(devices, Sequence) and not isinstance(devices, str):  # device ids (ListConfig)
        return len(devices)
    if devices in (-1, "-1", "auto", None):
        return None
    if isinstance(devices, str) and "," in devices:
        return len([part for part in devices.split(",") if part.strip()])
    return int(devices)


def reruns_command_line(trainer: DictConfig) -> bool:
    """Whether Lightning would start this trainer's extra processes by re-running the script."""
    strategy = trainer.get("strategy", "auto")
    if isinstance(strategy, str) and strategy in MULTIPROCESSING_STRATEGIES:
        return False
    devices = requested_devices(trainer.get("devices", 1))
    many_devices = devices is None or devices > 1
    many_nodes = int(trainer.get("num_nodes", 1)) > 1
    return (isinstance(strategy, str) and strategy.startswith("ddp")) or many_devices or many_nodes


def check_layout(trainer: DictConfig, tasks_per_node: int, nodes: int) -> None:
    """Raise when the trainer asks for another process count than the submitit job has."""
    devices = requested_devices(trainer.get("devices", 1))
    if devices is not None and devices != tasks_per_node:
        raise ConfigError(
            f"trainer.devices={trainer.devices} but the submitit job has {tasks_per_node} "
            "task(s) per node, and each task is one training process: set "
            f"hydra.launcher.tasks_per_node={devices} (or trainer.devices={tasks_per_node})."
        )
    num_nodes = int(trainer.get("num_nodes", 1))
    if num_nodes != nodes:
        raise ConfigError(
            f"trainer.num_nodes={num_nodes} but the submitit job has {nodes} node(s): set "
            f"hydra.launcher.nodes={num_nodes} (or trainer.num_nodes={nodes}; "
            "trainer=multinode for 2)."
        )


def submitit_trainer_kwargs(trainer: DictConfig) -> dict[str, Any]:
    """Trainer arguments that make each submitit task one DDP rank (none outside submitit).

    The cluster environment joins the configured plugins, the devices and nodes are the job's,
    and a strategy that would start processes itself becomes ``ddp``.
    """
    job = current_job()
    if job is None:
        return {}
    environment = environment_for(job)
    check_layout(trainer, environment.tasks_per_node(), job.num_nodes)
    plugins = [hydra.utils.instantiate(plugin) for plugin in trainer.get("plugins") or []]
    kwargs: dict[str, Any] = {
        "devices": environment.tasks_per_node(),
        "num_nodes": job.num_nodes,
        "plugins": [*plugins, environment],
    }
    strategy = trainer.get("strategy", "auto")
    if environment.world_size() > 1 and strategy in (*MULTIPROCESSING_STRATEGIES, "auto"):
        kwargs["strategy"] = "ddp"
    return kwargs
