"""The cluster environment of submitit tasks, read from the variables SLURM and submitit set."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lightning as L
import pytest
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from src.cluster.process_layout import (
    check_layout,
    requested_devices,
    reruns_command_line,
    submitit_trainer_kwargs,
)
from src.cluster.submitit_environment import (
    LOOPBACK,
    SubmititEnvironment,
    SubmititSlurmEnvironment,
    current_job,
    environment_for,
)
from src.utils.checkpoint_io import AtomicCheckpointIO
from src.utils.config_validation import ConfigError
from tests.composition import compose_train

# Task 3 of a job of 8 tasks on 2 nodes of 4 (SLURM's block distribution: node 0, local rank 3).
SLURM_RANK_3_OF_8 = {
    "SUBMITIT_EXECUTOR": "slurm",
    "SLURM_JOB_ID": "4242",
    "SLURM_NTASKS": "8",
    "SLURM_NTASKS_PER_NODE": "4",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_NNODES": "2",
    "SLURM_JOB_NODELIST": "gpu[07-08]",
    "SLURM_NODEID": "0",
    "SLURM_PROCID": "3",
    "SLURM_LOCALID": "3",
}
LOCAL_RANK_1_OF_2 = {
    "SUBMITIT_EXECUTOR": "local",
    "SUBMITIT_LOCAL_JOB_ID": "31337",
    "SUBMITIT_LOCAL_NTASKS": "2",
    "SUBMITIT_LOCAL_JOB_NUM_NODES": "1",
    "SUBMITIT_LOCAL_NODEID": "0",
    "SUBMITIT_LOCAL_GLOBALID": "1",
    "SUBMITIT_LOCAL_LOCALID": "1",
}


@pytest.fixture
def task_env(monkeypatch: pytest.MonkeyPatch):
    """Replaces this process's SLURM/submitit/rendezvous variables with the given ones (and
    restores the rank-zero guard, which a Trainer built for rank 3 sets process-wide)."""
    monkeypatch.setattr(rank_zero_only, "rank", rank_zero_only.rank)

    def apply(variables: dict[str, str]) -> None:
        for name in list(os.environ):
            if name.startswith(("SLURM_", "SUBMITIT_")) or name in ("MASTER_ADDR", "MASTER_PORT"):
                monkeypatch.delenv(name)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return apply


def test_slurm_task_3_of_8_on_2_nodes(task_env) -> None:
    task_env(SLURM_RANK_3_OF_8)
    environment = environment_for(current_job())
    assert isinstance(environment, SubmititSlurmEnvironment)
    assert environment.creates_processes_externally
    assert (environment.global_rank(), environment.local_rank(), environment.node_rank()) == (
        3,
        3,
        0,
    )
    assert environment.world_size() == 8 and environment.tasks_per_node() == 4
    assert environment.main_address == "gpu07"
    # Lightning's requeue handler is installed for SLURM environments with auto-requeue
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue
    assert environment.requeue_signal == signal.SIGUSR1


def test_every_task_of_a_job_agrees_on_the_main_port(task_env) -> None:
    task_env(SLURM_RANK_3_OF_8)
    port = SubmititEnvironment().main_port
    task_env({**SLURM_RANK_3_OF_8, "SLURM_NODEID": "1", "SLURM_PROCID": "6", "SLURM_LOCALID": "2"})
    other_task = SubmititEnvironment()
    assert (other_task.global_rank(), other_task.local_rank(), other_task.node_rank()) == (6, 2, 1)
    assert other_task.main_port == port
    task_env({**SLURM_RANK_3_OF_8, "SLURM_JOB_ID": "4243"})
    assert SubmititEnvironment().main_port != port


def test_local_executor_task(task_env) -> None:
    task_env(LOCAL_RANK_1_OF_2)
    environment = environment_for(current_job())
    assert type(environment) is SubmititEnvironment
    assert (environment.global_rank(), environment.local_rank(), environment.world_size()) == (
        1,
        1,
        2,
    )
    assert environment.main_address == LOOPBACK


def test_outside_submitit_there_is_no_job_and_the_trainer_is_left_alone(
    task_env, tmp_path: Path
) -> None:
    task_env({})
    assert current_job() is None and not SubmititEnvironment.detect()
    with pytest.raises(RuntimeError, match="submitit_local or submitit_slurm"):
        SubmititEnvironment()
    assert submitit_trainer_kwargs(_trainer_config("trainer=ddp_cpu", tmp_path)) == {}


def _trainer_config(choice: str, run_dir: Path) -> DictConfig:
    return compose_train([choice], run_dir).trainer


def test_a_ddp_cpu_trainer_in_a_local_task_becomes_one_rank_of_plain_ddp(
    task_env, tmp_path: Path
) -> None:
    task_env(LOCAL_RANK_1_OF_2)
    kwargs = submitit_trainer_kwargs(_trainer_config("trainer=ddp_cpu", tmp_path))
    assert kwargs["strategy"] == "ddp" and kwargs["devices"] == 2 and kwargs["num_nodes"] == 1
    atomic_io, environment = kwargs["plugins"]
    assert isinstance(atomic_io, AtomicCheckpointIO) and isinstance(
        environment, SubmititEnvironment
    )


def test_a_ddp_trainer_on_slurm_takes_its_ranks_from_the_job(task_env, tmp_path: Path) -> None:
    """A real Trainer, built with the arguments the pipeline adds: rank 3 of 8, no new processes."""
    task_env(SLURM_RANK_3_OF_8)
    config = _trainer_config("trainer=multinode", tmp_path)  # ddp, devices=-1, num_nodes=2
    kwargs = submitit_trainer_kwargs(config)
    trainer = L.Trainer(
        accelerator="cpu", strategy=config.strategy, logger=False, **kwargs
    )  # CPU stands in for the GPUs
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank) == (3, 3, 0)
    assert trainer.world_size == 8 and trainer.num_devices == 4
    assert trainer.strategy.cluster_environment is kwargs["plugins"][-1]


def test_a_trainer_that_asks_for_other_process_counts_than_the_job_is_refused(
    task_env, tmp_path: Path
) -> None:
    task_env({**LOCAL_RANK_1_OF_2, "SUBMITIT_LOCAL_NTASKS": "4"})
    with pytest.raises(ConfigError, match=r"trainer.devices=2 .* hydra.launcher.tasks_per_node=2"):
        submitit_trainer_kwargs(_trainer_config("trainer=ddp_cpu", tmp_path))
    with pytest.raises(ConfigError, match=r"trainer.num_nodes=2 .* hydra.launcher.nodes=2"):
        check_layout(_trainer_config("trainer=multinode", tmp_path), tasks_per_node=8, nodes=1)


@pytest.mark.parametrize(
    ("choice", "reruns"),
    [("trainer=cpu", False), ("trainer=gpu", False), ("trainer=ddp_cpu", False)]
    + [("trainer=ddp", True), ("trainer=multinode", True)],
)
def test_which_trainers_lightning_starts_by_re_running_the_script(
    choice: str, reruns: bool, tmp_path: Path
) -> None:
    assert reruns_command_line(_trainer_config(choice, tmp_path)) is reruns


@pytest.mark.parametrize(
    ("devices", "count"),
    [(OmegaConf.create([0, 1]), 2), ("0,1", 2), (3, 3), ("2", 2), ("auto", None), (-1, None)],
)
def test_the_process_count_each_way_of_writing_devices_asks_for(devices, count) -> None:
    assert requested_devices(devices) == count
