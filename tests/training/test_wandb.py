"""logger=wandb: what an offline run records, and no crash or hang when W&B is out of reach."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import wandb
from lightning.pytorch.loggers.logger import DummyExperiment
from lightning.pytorch.utilities import rank_zero_only

from src.runs.identity import read_run_record
from src.runs.wandb_logger import make_wandb_logger, offline_reason
from tests.helpers import run_entry_point, short_run
from tests.log_records import messages_of
from tests.training.wandb_records import run_contents


@pytest.fixture
def no_wandb_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Online mode, no API key anywhere (empty HOME), a server URL nothing listens on."""
    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "NETRC", "WANDB_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}"
    if wandb.run is not None:
        wandb.finish()


@pytest.mark.slow
def test_offline_run_holds_config_hydra_choices_commit_and_metrics(
    small_toy_imagenet_root: Path, tmp_path: Path
) -> None:
    run = run_entry_point(
        "src/train.py",
        [
            "experiment=toy_cls",
            "logger=wandb",
            f"data.root={small_toy_imagenet_root}",
            *short_run(2),
            "callbacks=none",
        ],
        tmp_path / "run",
    )
    (offline_run,) = (run.run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    config, history = run_contents(offline_run)
    assert config["config"]["data"]["root"] == str(small_toy_imagenet_root)  # the resolved config
    assert config["config"]["model"]["backbone"]["name"] == "resnest14"
    assert config["hydra_choices"]["experiment"] == "toy_cls"
    assert config["hydra_choices"]["logger"] == "wandb"
    assert len(config["git_commit"].split("-")[0]) == 40
    logged = {key for row in history for key in row}
    assert {"train/loss_epoch", "val/acc1", "val/acc5", "val/loss"} <= logged


@pytest.mark.slow
def test_a_resumed_run_continues_its_wandb_run(
    small_toy_imagenet_root: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    first = ["experiment=toy_cls", "logger=wandb", f"data.root={small_toy_imagenet_root}"]
    run_entry_point("src/train.py", [*first, *short_run(2), f"paths.log_dir={logs}"], None)
    (run_dir,) = (logs / "train" / "runs").iterdir()
    run_entry_point(
        "src/train.py", ["resume=latest", "trainer.max_epochs=2", f"paths.log_dir={logs}"], None
    )
    offline_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2  # one per start, to be synced into one W&B run
    wandb_id = read_run_record(run_dir)["wandb_run_id"]
    assert [path.name.rsplit("-", 1)[1] for path in offline_runs] == [wandb_id, wandb_id]


def test_online_without_an_api_key_falls_back_to_offline_in_one_line(
    no_wandb_credentials: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="src.runs.wandb_logger"):
        logger = make_wandb_logger(save_dir=str(tmp_path), project="test")
    (line,) = [record.getMessage() for record in caplog.records]
    assert "no API key" in line and f"wandb sync {tmp_path}/wandb/offline-run-*" in line
    logger.log_metrics({"val/acc1": 0.5}, step=0)  # where online mode without a key would raise
    wandb.finish()
    assert len(list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))) == 1


def test_a_key_but_a_silent_server_falls_back_within_the_probe_timeout(
    no_wandb_credentials: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    with socket.socket() as server:  # accepts connections (backlog) but never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
        reason = offline_reason(timeout=0.5)  # without the timeout this would never return
    assert reason is not None and "did not answer within 0.5 s" in reason


def test_other_ranks_neither_probe_nor_create_a_run(
    no_wandb_credentials: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = make_wandb_logger(save_dir=str(tmp_path), project="test")
    assert isinstance(logger.experiment, DummyExperiment)
    assert not caplog.records and wandb.run is None
    assert not (tmp_path / "wandb").exists()


@pytest.mark.filterwarnings("ignore:There is a wandb run already in progress")
def test_a_run_started_by_a_sweep_agent_function_is_reused(
    no_wandb_credentials: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent_run = wandb.init(mode="offline", dir=str(tmp_path), project="sweep")
    logger = make_wandb_logger(save_dir=str(tmp_path), project="test")
    assert logger.experiment is agent_run
    assert not messages_of(caplog, "src.runs.wandb_logger")
