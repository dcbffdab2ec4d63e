"""One offline trial: the sweep's command in its own process group, watched epoch by epoch.

The run reports through :class:`~src.callbacks.epoch_metrics.EpochMetricsFile`, which the trial
adds with two Hydra overrides. Each fit-stage value of the metric goes to the pruner as one more
iteration; a pruned trial's whole process group (DDP workers included) is terminated. The trial's
result is the metric's last value, that of the best checkpoint's validation after fit, which is
also the value W&B keeps in the run summary.

Trial processes run in their own sessions, so a Ctrl-C at the terminal does not reach them:
:func:`stop_running_trials` ends them when the engine is interrupted. On Linux a trial is also
sent SIGTERM when the engine dies without that chance (SIGKILL, OOM): its retry runs elsewhere,
and an orphan would hold the GPUs and train on beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import optuna

from src.runs.stop_signals import signal_at_parent_death

REPORT_FILE = "epoch_metrics.jsonl"
LOG_FILE = "trial.log"
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 10.0

_running: set[subprocess.Popen] = set()  # trials of every worker thread
_running_lock = threading.Lock()


def _end_with_engine() -> None:
    """In the trial's child process: SIGTERM when the thread that started it ends (the engine's
    worker thread, which lives until its last trial is done, or the whole engine killed)."""
    signal_at_parent_death(signal.SIGTERM)


class TrialFailed(RuntimeError):
    """The trial's process failed or never logged the metric; the study goes on."""


def report_overrides(report: Path) -> list[str]:
    """Hydra overrides that make a run append its validation metrics to ``report``."""
    quoted = str(report).replace("\\", "\\\\").replace("'", "\\'")
    return [
        "+callbacks.epoch_metrics._target_=src.callbacks.epoch_metrics.EpochMetricsFile",
        f"+callbacks.epoch_metrics.path='{quoted}'",
    ]


def run_trial(
    trial: optuna.Trial,
    argv: list[str],
    workdir: Path,
    run_dir: Path,
    metric: str,
    env: dict[str, str],
) -> float:
    """Run ``argv`` in ``workdir`` (output to ``run_dir/trial.log``), report and prune; return
    the result."""
    run_dir.mkdir(parents=True, exist_ok=True)
    report = run_dir / REPORT_FILE
    log_path = run_dir / LOG_FILE
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            argv + report_overrides(report),
            cwd=workdir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so a pruned DDP run stops entirely
            preexec_fn=_end_with_engine,
        )
        with _running_lock:
            _running.add(process)
        try:
            value = watch(process, trial, ReportReader(report), metric)
        finally:
            stop(process)
            with _running_lock:
                _running.discard(process)
    if process.returncode != 0:
        raise TrialFailed(f"trial {trial.number} exited with {process.returncode}; see {log_path}")
    if value is None:
        raise TrialFailed(f"trial {trial.number} never logged {metric}; see {log_path}")
    return value


def watch(
    process: subprocess.Popen, trial: optuna.Trial, reader: ReportReader, metric: str
) -> float | None:
    """Feed fit-stage values to the pruner until the process ends; the last value seen."""
    last, iterations = None, 0
    while True:
        finished = process.poll() is not None  # read after exiting: nothing written is missed
        for entry in reader.new_entries():
            value = entry["metrics"].get(metric)
            if value is None:
                continue
            last = value
            if entry["stage"] == "fit":
                iterations += 1
                trial.report(value, step=iterations)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"{metric}={value:.4f} after {iterations} epochs")
        if finished:
            return last
        time.sleep(POLL_SECONDS)


def stop_running_trials() -> None:
    """Stop every trial still running (each then fails and is recorded as such)."""
    with _running_lock:
        processes = list(_running)
    for process in processes:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Terminate the process group if still running; kill it if it does not stop in time."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=STOP_GRACE_SECONDS)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


class ReportReader:
    """New complete lines of a JSON-lines file that another process is appending to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]
