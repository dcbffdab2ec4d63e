"""Running the entry points as a user does, in a child process with a pinned run directory.

Training tests need real processes: to kill them, to run DDP, and because deterministic mode
changes process-wide torch settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# A small classification model on the toy ImageNet tree (add data.root=...), for either script.
TINY_CLS = (
    "experiment=toy_cls",
    "extras.print_config=false",
    "model.backbone.stem_width=8",
    "model.backbone.bottleneck_width=8",
    "data.batch_size=8",
)
# ... and a short training run of it.
TINY_RUN = (*TINY_CLS, "trainer.max_epochs=1", "+trainer.limit_val_batches=1", "test=false")


def command(script: str, overrides: list[str] | tuple[str, ...]) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "src" / script), *overrides]


def environment(run_dir: Path | None) -> dict[str, str]:
    """The current environment with the Hydra run dir pinned (unless None: a new run dir per
    run, as for a user) and W&B kept offline."""
    unpinned = {key: value for key, value in os.environ.items() if key != "RUN_DIR"}
    pinned = {"RUN_DIR": str(run_dir)} if run_dir is not None else {}
    return {**unpinned, **pinned, "WANDB_MODE": "offline"}


def launch(
    script: str,
    overrides: list[str] | tuple[str, ...],
    run_dir: Path | None,
    *,
    succeed: bool = True,
    timeout: float = 300,
) -> str:
    """Run ``src/<script>``; return its output, checking that it succeeded (or failed).

    ``run_dir`` pins the run directory; with None the run makes its own (pass
    ``paths.log_dir=...`` to keep it under the test's folder)."""
    process = subprocess.run(
        command(script, overrides),
        cwd=REPO_ROOT,
        env=environment(run_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = process.stdout + process.stderr
    verdict = "failed" if succeed else "succeeded"
    assert (process.returncode == 0) == succeed, f"{script} {verdict}:\n{output[-6000:]}"
    return output
