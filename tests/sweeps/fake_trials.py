"""Stand-ins for a trial's training run: scripts that report a metric as src/train.py would
(through the report file named in their overrides), so that what the sweep engine does around
trials (claims, retries, pruning, signals) is tested without the seconds a training run costs."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import yaml


def fake_training(tmp_path: Path, body: str) -> list[str]:
    """A stand-in for src/train.py that finds its report file in the trial's overrides."""
    script = tmp_path / "fake_train.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, subprocess, sys, time
            path = next(a.split("=", 1)[1].strip("'") for a in sys.argv if ".path=" in a)
            def report(stage, value):
                with open(path, "a") as f:
                    f.write(json.dumps({"stage": stage, "epoch": 0, "step": 0,
                                        "metrics": {"val/acc1": value}}) + "\\n")
            """
        )
        + textwrap.dedent(body)
    )
    return [sys.executable, str(script)]


def fake_sweep(
    tmp_path: Path, fake: list[str], values: list[float], more: dict[str, list] | None = None
) -> Path:
    """A grid sweep file over ``model.lr`` (and the parameters in ``more``) whose program is
    the script of ``fake_training``."""
    path = tmp_path / "fake_sweep.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "program": fake[-1],
                "method": "grid",
                "metric": {"name": "val/acc1", "goal": "maximize"},
                "parameters": {
                    "model.lr": {"values": values},
                    **{name: {"values": choices} for name, choices in (more or {}).items()},
                },
                "command": ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
            }
        )
    )
    return path


def gone_soon(pid: str, patience: float = 10.0) -> bool:
    """Whether ``pid`` is gone within ``patience`` seconds: a signalled process dies once it is
    next scheduled, which on a loaded machine is not at once."""
    deadline = time.monotonic() + patience
    while not is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return is_gone(pid)


def is_gone(pid: str) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"  # or a dead zombie
