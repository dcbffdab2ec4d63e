"""Under DDP a training makes exactly one W&B run: rank zero's (2 CPU processes, gloo)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_entry_point
from tests.training.wandb_records import run_contents


def test_two_process_ddp_makes_one_offline_run(toy_imagenet_root: Path, tmp_path: Path) -> None:
    run_entry_point(
        "train.py",
        [
            "experiment=toy_cls",
            "trainer=ddp_cpu",
            "logger=wandb",
            f"data.root={toy_imagenet_root}",
            "trainer.max_epochs=1",
            "++trainer.limit_train_batches=1",
            "++trainer.limit_val_batches=1",
            "callbacks=none",
            "extras.print_config=false",
        ],
        tmp_path / "run",
        env={"WANDB_MODE": "offline"},
    )
    runs = list(tmp_path.rglob("run-*.wandb"))  # the run dir and the working directory
    assert len(runs) == 1, runs
    config, history = run_contents(runs[0])
    assert config["hydra_choices"]["trainer"] == "ddp_cpu"
    assert any("val/acc1" in row for row in history)  # logged from the spawned rank zero
