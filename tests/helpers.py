"""Running the real entry points the way a user does, and the overrides that make a run short.

Training tests need real processes: to kill them, to run DDP, and because deterministic mode
changes process-wide torch settings. Every test that runs an entry point goes through
``run_entry_point`` (or, to signal or kill the process, ``command`` and ``environment`` with
``tests.runner.client.start_entry_point``), and builds its overrides from the pieces below,
adding only what is special about it. Both start each run as a fork of a process that has
already imported the project (tests/runner/server.py), so a run of a few steps does not
pay the imports again.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.runner.client import run_command

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"

QUIET = "extras.print_config=false"  # no config tree in the output
# A small classifier on the toy ImageNet tree (add data.root=...), for either script.
SMALL_CLS = (
    "experiment=toy_cls",
    QUIET,
    "model.backbone.stem_width=8",
    "model.backbone.bottleneck_width=8",
    "data.batch_size=8",
)

# PyTorch-Encoding's evaluation protocol at the toy ADE20K sizes (96x128 images): scale 0.75 is
# run whole, 1.25 in 96-pixel windows.
TOY_ENCODING_MS_FLIP = (
    "inference=encoding_ms_flip",
    "model.inference.scales=[0.75,1.25]",
    "model.inference.base_size=128",
    "model.inference.crop_size=96",
    "model.inference.stride=64",
    "data.val_resize=original",
)


def short_run(train_batches: int, epochs: int = 1) -> list[str]:
    """Overrides for ``epochs`` epochs of ``train_batches`` training batches each, every
    validation cut to one batch: enough to exercise a whole run in seconds."""
    return [
        f"trainer.max_epochs={epochs}",
        f"++trainer.limit_train_batches={train_batches}",
        "++trainer.limit_val_batches=1",
        QUIET,
    ]


def small_cls_run(train_batches: int, epochs: int = 1) -> list[str]:
    """A short training run of ``SMALL_CLS``, without the final validation of the best
    checkpoint (``test=true`` puts it back)."""
    return [*SMALL_CLS, *short_run(train_batches, epochs), "test=false"]


@dataclass
class Run:
    """A finished entry-point process: what it printed and its run directory (None when the
    run chose its own)."""

    stdout: str
    stderr: str
    run_dir: Path | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def command(script: str, overrides: Sequence[str]) -> list[str]:
    """``python <script> <overrides>``, ``script`` relative to the repository root."""
    return [sys.executable, str(REPO_ROOT / script), *overrides]


def environment(run_dir: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment with the Hydra run dir pinned (unless None: a new run dir per
    run, as for a user), W&B kept offline, then ``extra``."""
    unpinned = {key: value for key, value in os.environ.items() if key != "RUN_DIR"}
    pinned = {"RUN_DIR": str(run_dir)} if run_dir is not None else {}
    return {**unpinned, **pinned, "WANDB_MODE": "offline", **(extra or {})}


def run_entry_point(
    script: str,
    overrides: Sequence[str],
    run_dir: Path | None,
    *,
    succeed: bool = True,
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    timeout: float = 600,
    how: str | None = None,
) -> Run:
    """Run ``python <script> <overrides>`` (``script`` relative to the repository root, e.g.
    ``src/train.py``) from ``cwd``, and check that it succeeded (or, ``succeed=False``, failed).

    ``run_dir`` pins the run directory; with None the run makes its own (pass
    ``paths.log_dir=...`` to keep it under the test's folder). ``env`` adds to the environment.
    ``how`` (``forked`` or ``fresh``) overrides the session's way of starting runs
    (``RESNEST_TEST_ENTRY_POINTS``, tests/runner/client.py).
    """
    argv, full_env = command(script, overrides), environment(run_dir, env)
    process = run_command(argv, full_env, cwd, timeout, how)
    run = Run(stdout=process.stdout, stderr=process.stderr, run_dir=run_dir)
    verdict = "failed" if succeed else "succeeded"
    assert (process.returncode == 0) == succeed, (
        f"{script} {' '.join(overrides)} {verdict}:\n{run.output[-6000:]}"
    )
    return run


def last_logged(run_dir: Path, metric: str) -> float:
    """The last value of ``metric`` in the run's CSV log."""
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    values = [float(row[metric]) for row in rows if row.get(metric)]
    assert values, f"{metric} was never logged in {run_dir}"
    return values[-1]


UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


def offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no route to any weights host: every proxy unreachable, empty
    caches under ``tmp_path``, the Hub offline."""
    proxies = {
        name: UNREACHABLE for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    }
    return {
        **proxies,
        "NO_PROXY": "",
        "no_proxy": "",
        "TORCH_HOME": str(tmp_path / "empty_torch_home"),
        "HF_HOME": str(tmp_path / "empty_hf_home"),
        "HF_HUB_OFFLINE": "1",
    }
