"""Callbacks that put a fault at a known point of a run, for tests that signal or watch it:
a checkpoint write stalled half-way (until a stop signal, then a little longer, for a second
one to land in it), a checkpoint write that fails as torch fails on a full disk, a validation
stalled until a stop signal. ``save`` counts the run's checkpoint writes from 1."""

from __future__ import annotations

import errno
import io
import time
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from src.runs.stop_signals import stop_requested

STALLED_IN_WRITE = "stalled in checkpoint write"
STALLED_IN_VALIDATION = "stalled in validation"
STALL_SECONDS = 600
SECOND_SIGNAL_WINDOW_S = 1.0  # the write goes on this long after the first stop signal
REAL_SAVE = torch.save


def _wait_for_stop() -> None:
    deadline = time.monotonic() + STALL_SECONDS
    while not stop_requested() and time.monotonic() < deadline:
        time.sleep(0.05)


class _AtSave(Callback):
    """Replaces torch.save in this run's process; ``fault`` runs at write number ``save``."""

    def __init__(self, save: int) -> None:
        self.save, self.count = save, 0
        torch.save = self._save

    def _save(self, obj: Any, file: io.BufferedWriter) -> None:
        self.count += 1
        buffer = io.BytesIO()
        REAL_SAVE(obj, buffer)
        data = buffer.getvalue()
        if self.count != self.save:
            file.write(data)
            return
        file.write(data[: len(data) // 2])
        file.flush()
        self.fault()
        file.write(data[len(data) // 2 :])

    def fault(self) -> None:
        raise NotImplementedError


class StallInCheckpointWrite(_AtSave):
    def fault(self) -> None:
        print(STALLED_IN_WRITE, flush=True)
        _wait_for_stop()
        time.sleep(SECOND_SIGNAL_WINDOW_S)


class FullDisk(_AtSave):
    def fault(self) -> None:
        try:  # what torch's zip writer makes of a full disk: its own error, the OSError behind
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")  # noqa: B904


class StallInValidation(Callback):
    """Stalls the fit's validations, or with ``final`` only the one after the fit."""

    def __init__(self, final: bool = False) -> None:
        self.final = final

    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, *_: Any
    ) -> None:
        in_fit = trainer.state.fn == TrainerFn.FITTING
        if not trainer.sanity_checking and in_fit != self.final:
            print(STALLED_IN_VALIDATION, flush=True)
            _wait_for_stop()
