"""``python -m tests.training.slow_checkpoint_write FILE``: overwrite FILE through
:class:`AtomicCheckpointIO`, announce on stdout when half of the bytes are written, then stall
there so that the test can kill the process in the middle of the write."""

from __future__ import annotations

import io
import sys
import time
from typing import Any

import torch

from src.utils.checkpoint_io import AtomicCheckpointIO

REAL_SAVE = torch.save
HALF_WRITTEN = "half written"


def stalling_save(obj: Any, file: io.BufferedWriter) -> None:
    buffer = io.BytesIO()
    REAL_SAVE(obj, buffer)
    data = buffer.getvalue()
    file.write(data[: len(data) // 2])
    file.flush()
    print(HALF_WRITTEN, flush=True)
    time.sleep(600)
    file.write(data[len(data) // 2 :])


if __name__ == "__main__":
    torch.save = stalling_save
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(100_000)}}, sys.argv[1])
