"""Checkpoint files: atomic writes, weights-only reads, which file ``ckpt_path=last`` picks."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch

from src.pipeline import evaluate, resolve_ckpt_path
from src.tasks.checkpoint_fit import CheckpointMismatchError
from src.utils.checkpoint_io import AtomicCheckpointIO, CheckpointLoadError
from src.utils.run_config import save_run_config
from tests.composition import compose_train
from tests.helpers import REPO_ROOT, run_entry_point, small_cls_run
from tests.training.slow_checkpoint_write import HALF_WRITTEN


class _RunsCode:
    """Unpickling this calls ``os.system``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def _malicious_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "payload": _RunsCode(marker)}, path)
    return path


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_keeps_the_previous_file(tmp_path: Path) -> None:
    last = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 7, "w": torch.zeros(3)}, last)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.training.slow_checkpoint_write", str(last)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == HALF_WRITTEN
    finally:
        writer.kill()  # SIGKILL: no cleanup runs
        writer.wait()
        writer.stdout.close()
    assert len(list(tmp_path.glob(".last.ckpt.*.tmp"))) == 1  # the interrupted write
    checkpoint = AtomicCheckpointIO().load_checkpoint(last)
    assert checkpoint["global_step"] == 7 and torch.equal(checkpoint["w"], torch.zeros(3))


def test_truncated_checkpoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointLoadError, match=f"checkpoint '{path}' is truncated or corrupt"):
        AtomicCheckpointIO().load_checkpoint(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00" + bytes(range(256)) * 4, "is not a PyTorch checkpoint (it starts with b'\\x00"),
        (b"epoch,loss\n0,1.5\n", "is not a PyTorch checkpoint (it starts with b'epoc'"),
        (b"", "is not a PyTorch checkpoint (it is empty"),
        (b"\x80" + bytes(range(255, 0, -1)) * 4, "is truncated or corrupt (Unsupported operand"),
    ],
    ids=["random bytes", "text", "empty", "a broken pickle"],
)
def test_a_file_that_is_no_checkpoint_is_not_called_code(
    content: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "last.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointLoadError) as error:
        AtomicCheckpointIO().load_checkpoint(path)
    assert message in str(error.value) and "could run code" not in str(error.value)


def test_pickled_code_is_refused_even_when_asked_to_trust_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _malicious_checkpoint(tmp_path / "bad.ckpt", marker)
    with pytest.raises(CheckpointLoadError, match="refused to load checkpoint") as error:
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    assert isinstance(error.value.__cause__, pickle.UnpicklingError) and not marker.exists()
    assert "could run code" in str(error.value) and "GLOBAL posix.system" in str(error.value)


@pytest.mark.slow
def test_resume_refuses_a_malicious_last_checkpoint(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    run_dir = tmp_path / "run"
    marker = tmp_path / "ran"
    _malicious_checkpoint(run_dir / "checkpoints" / "last.ckpt", marker)
    overrides = [*small_cls_run(1), f"data.root={small_toy_imagenet_root}", "ckpt_path=last"]
    output = run_entry_point("src/train.py", overrides, run_dir, succeed=False).output
    assert f"refused to load checkpoint '{run_dir / 'checkpoints' / 'last.ckpt'}'" in output
    assert not marker.exists()


def test_last_is_the_newest_of_last_ckpt_and_slurm_requeue_checkpoints(tmp_path: Path) -> None:
    assert resolve_ckpt_path("last", str(tmp_path)) is None
    assert resolve_ckpt_path("some/file.ckpt", str(tmp_path)) == "some/file.ckpt"
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    hpc = tmp_path / "hpc_ckpt_1.ckpt"
    for path in (last, hpc):
        torch.save({"global_step": 1}, path)
    os.utime(last, (1_000, 1_000))
    assert resolve_ckpt_path("last", str(tmp_path)) == str(hpc)
    os.utime(last, (2**31, 2**31))
    assert resolve_ckpt_path("last", str(tmp_path)) == str(last)


def _saved_run(overrides: list[str], run_dir: Path) -> Path:
    """A run directory as training leaves it (config, Hydra choices) with an untrained
    checkpoint written by a real Trainer; the checkpoint's path."""
    cfg = compose_train(overrides, run_dir)
    save_run_config(cfg, run_dir)
    model = hydra.utils.instantiate(cfg.model)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    path = run_dir / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    return path


def test_a_segmentation_checkpoint_under_a_classification_experiment_gets_one_summary(
    tmp_path: Path, toy_imagenet_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = _saved_run(["experiment=toy_seg"], tmp_path / "seg_run")
    cfg = compose_train(
        ["experiment=toy_cls", f"data.root={toy_imagenet_root}", f"ckpt_path={checkpoint}"],
        tmp_path / "eval",
        config_name="eval",
    )
    with pytest.raises(CheckpointMismatchError) as error:
        evaluate(cfg)
    message = str(error.value)
    assert message.startswith(f"checkpoint {checkpoint} does not fit the ClassificationModule")
    assert "152 weights 152 are missing" in message and "202 are unexpected" in message
    assert message.endswith(
        "Likely cause: a segmentation checkpoint under a classification experiment: "
        "use experiment=toy_seg"
    )
    assert len(message.splitlines()) == 4  # the counts, missing, unexpected, the cause
    assert "Unexpected key(s)" not in message + caplog.text


def test_a_checkpoint_of_other_backbone_settings_names_them(tmp_path: Path) -> None:
    checkpoint = _saved_run(["experiment=toy_cls", "model.backbone.radix=1"], tmp_path / "run")
    cfg = compose_train(["experiment=toy_cls"], tmp_path / "eval")
    model = hydra.utils.instantiate(cfg.model)
    with pytest.raises(CheckpointMismatchError) as error:
        model.on_load_checkpoint(torch.load(checkpoint, weights_only=True))
    message = str(error.value)
    assert "have another shape" in message and "(model: [" in message
    assert message.startswith("the checkpoint does not fit the ClassificationModule")
    assert "it was trained with model.backbone.radix=1 (config: null)" in message
