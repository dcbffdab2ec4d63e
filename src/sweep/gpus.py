"""Giving each concurrent trial its own GPUs, as scripts/sweep_agent.sh does for W&B agents."""

from __future__ import annotations

import os
import queue
import re
import subprocess


def visible_gpus() -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` when set, else the GPUs ``nvidia-smi -L`` lists (not MIG slices)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [gpu for gpu in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if gpu]
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return re.findall(r"^GPU (\d+):", listing, flags=re.MULTILINE)


def gpu_slots(per_trial: int, workers: int) -> queue.Queue[str]:
    """One ``CUDA_VISIBLE_DEVICES`` value per worker, ``per_trial`` GPUs each; a trial takes a
    slot while it runs and gives it back."""
    gpus = visible_gpus()
    if per_trial * workers > len(gpus):
        raise ValueError(
            f"--workers {workers} x --gpus-per-trial {per_trial} needs {per_trial * workers} GPUs; "
            f"found {len(gpus)} (CUDA_VISIBLE_DEVICES or nvidia-smi -L). Lower either."
        )
    slots: queue.Queue[str] = queue.Queue()
    for worker in range(workers):
        slots.put(",".join(gpus[worker * per_trial : (worker + 1) * per_trial]))
    return slots
