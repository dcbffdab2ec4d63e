"""A stop signal in the final validation of a run that wrote no checkpoint: the warning says so
and names the run directory, and the run still ends with the signal's exit code."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from src.runs.final_validation import final_validation
from src.runs.stop_signals import RunStopped, exit_code
from tests.log_records import messages_of


class SignalledInValidation(BoringModel):
    """Sends this process SIGTERM from its first validation step, as a scheduler would."""

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        os.kill(os.getpid(), signal.SIGTERM)
        return super().validation_step(batch, batch_idx)


def test_a_stop_in_the_final_validation_without_any_checkpoint_says_none_holds_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        logger=False,
        limit_val_batches=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    earlier = signal.getsignal(signal.SIGTERM)
    logged = caplog.at_level(logging.WARNING, logger="src.runs.final_validation")
    with logged, pytest.raises(RunStopped) as stopped:
        final_validation(trainer, SignalledInValidation(), None)
    assert stopped.value.code == exit_code(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is earlier  # the handlers are put back
    (message,) = messages_of(caplog, "src.runs.final_validation")
    assert "SIGTERM in the final validation; training had finished" in message
    assert f"no checkpoint holds it: {tmp_path / 'checkpoints'} has none" in message
    assert "python src/eval.py" not in message  # there is nothing to validate
