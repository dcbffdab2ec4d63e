"""The multirun check, on composed configs: which launcher and trainer pairs may sweep."""

from __future__ import annotations

import os

import pytest
from hydra import compose, initialize_config_dir
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from src.cluster.launch_check import LaunchCheck, check_multirun
from src.cluster.process_layout import reruns_command_line
from src.utils.config_validation import ConfigError
from tests.helpers import CONFIG_DIR, REPO_ROOT


def _config(*overrides: str) -> DictConfig:
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(
    ("overrides", "reruns"),
    [
        (("trainer=cpu",), False),
        (("trainer=ddp_cpu",), False),  # spawned processes: the command line is not re-run
        (("hydra/launcher=submitit_slurm", "trainer=ddp"), True),
        (("hydra/launcher=submitit_slurm", "trainer=multinode", "hydra.launcher.nodes=2"), True),
        (
            ("hydra/launcher=submitit_local", "trainer=ddp_cpu", "hydra.launcher.tasks_per_node=2"),
            False,
        ),
    ],
)
def test_sweeps_that_train_as_configured_pass(overrides: tuple[str, ...], reruns: bool) -> None:
    config = _config(*overrides)
    # what the check decides on: a trainer that re-runs the command line needs submitit
    assert reruns_command_line(config.trainer) is reruns
    check_multirun(config)  # raises ConfigError for a sweep it refuses


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("trainer=ddp",), "hydra/launcher=submitit_local or hydra/launcher=submitit_slurm"),
        (("trainer=multinode",), "every rank would run the whole sweep"),
        (("trainer=cpu", "trainer.devices=4"), "re-running this command line"),
        (("hydra/launcher=submitit_local", "trainer=ddp_cpu"), "hydra.launcher.tasks_per_node=2"),
        (("hydra/launcher=submitit_slurm", "trainer=multinode"), "hydra.launcher.nodes=2"),
    ],
)
def test_sweeps_whose_jobs_would_train_wrongly_are_refused(
    overrides: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_multirun(_config(*overrides))


def test_a_submitit_task_is_rank_aware_before_its_trainer_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    for name, value in {
        "SUBMITIT_EXECUTOR": "local",
        "SUBMITIT_LOCAL_JOB_ID": "31337",
        "SUBMITIT_LOCAL_NTASKS": "2",
        "SUBMITIT_LOCAL_GLOBALID": "1",
        "SUBMITIT_LOCAL_LOCALID": "1",
    }.items():
        monkeypatch.setenv(name, value)
    LaunchCheck().on_job_start(_config("trainer=cpu"))
    assert rank_zero_only.rank == 1
