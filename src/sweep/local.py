"""Running a W&B sweep file without W&B: an Optuna study whose trials run the file's command.

The study lives in an Optuna storage (src/sweep/storage.py), so an interrupted sweep resumes and
processes on several machines given the same ``--storage`` and study name share it: each takes
waiting trials (a grid's queued cells, retries) by a claim the storage makes atomic, and beats
for its running trials so that the others retry them if it dies (src/sweep/heartbeat.py).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from src.sweep.heartbeat import (
    RETRY_OF_ATTR,
    STOPPED_ATTR,
    Heartbeat,
    queue_retry,
    retried_numbers,
)
from src.sweep.space import suggest_all
from src.sweep.spec import SweepSpec, build_command
from src.sweep.trial import TrialFailed, run_trial, stop_running_trials

WORKER_ATTR = "worker"  # host:pid of the process that ran the trial
IDLE_POLL_S = 1.0  # how often a worker with nothing to claim looks at the study again


@dataclass
class LocalSweep:
    """One study for ``spec``; trial ``n`` runs from ``workdir`` (where the file's ``program``
    path starts, as for an agent started in the repository root) into ``out_dir/trial_000n``,
    on a slot of ``gpu_slots`` (its CUDA_VISIBLE_DEVICES) when given."""

    spec: SweepSpec
    out_dir: Path
    workdir: Path
    interpreter: str
    extra_overrides: list[str] = field(default_factory=list)
    gpu_slots: queue.Queue[str] | None = None

    def objective(self, trial: optuna.Trial) -> float:
        values = suggest_all(trial, self.spec)
        run_dir = self.out_dir / f"trial_{trial.number:04d}"
        argv = build_command(self.spec, values, self.interpreter, self.extra_overrides)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        env = self.trial_env(run_dir)
        if self.gpu_slots is None:
            return run_trial(trial, argv, self.workdir, run_dir, self.spec.metric, env)
        devices = self.gpu_slots.get()
        try:
            trial.set_user_attr("gpus", devices)
            env["CUDA_VISIBLE_DEVICES"] = devices
            return run_trial(trial, argv, self.workdir, run_dir, self.spec.metric, env)
        finally:
            self.gpu_slots.put(devices)

    def trial_env(self, run_dir: Path) -> dict[str, str]:
        """The run dir pinned with RUN_DIR; W&B offline (and grouped by study) unless the
        caller's environment says otherwise, since no sweep server is involved."""
        env = {**os.environ, "RUN_DIR": str(run_dir)}
        env.setdefault("WANDB_MODE", "offline")
        env.setdefault("WANDB_RUN_GROUP", self.out_dir.name)
        return env


@dataclass
class Interruption:
    """Set by SIGINT/SIGTERM: workers take no new trial, and the stopped ones are queued again."""

    event: threading.Event = field(default_factory=threading.Event)
    signal_name: str = ""

    def __call__(self, signum: int, frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        stop_running_trials()  # worker threads wait on them


def run_local_sweep(
    sweep: LocalSweep, study: optuna.Study, trials: int, workers: int, heartbeat_s: float
) -> str | None:
    """Run trials until the study holds ``trials`` of them (those of other processes count too;
    a retry stands in for the trial it repeats) or its grid queue is empty, ``workers`` at a
    time. A failed trial is recorded and skipped. A worker with nothing left to take stays while
    trials of other workers run, to take over those of a worker that dies. Returns the name of
    the signal that stopped the sweep, or None."""
    interruption = Interruption()
    handlers = {sig: signal.signal(sig, interruption) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Heartbeat(study, heartbeat_s) as heartbeat:
            threads = [
                threading.Thread(target=work, args=(sweep, study, trials, heartbeat, interruption))
                for _ in range(workers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return interruption.signal_name or None


def work(
    sweep: LocalSweep,
    study: optuna.Study,
    target: int,
    heartbeat: Heartbeat,
    interruption: Interruption,
) -> None:
    """One worker: take trials and run them until none is left to take or run."""
    while not interruption.event.is_set():
        trial = take_trial(study, sweep.spec.method == "grid", target)
        if trial is not None:
            run_one(sweep, study, trial, heartbeat, interruption)
        elif study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # one may finish, or come back as a retry: look again soon, not a heartbeat later
            interruption.event.wait(min(heartbeat.interval, IDLE_POLL_S))
        else:
            return


def take_trial(study: optuna.Study, grid: bool, target: int) -> optuna.Trial | None:
    """A waiting trial claimed for this worker (retries first, then grid cells in order), else a
    new one from the sampler; None when the study has its ``target`` trials. A claim is one
    storage transaction, so no two workers on any node get the same waiting trial."""
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    taken = sum(t.state != TrialState.WAITING and t.number not in retried for t in trials)
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    for trial in sorted(waiting, key=lambda t: (RETRY_OF_ATTR not in t.system_attrs, t.number)):
        if RETRY_OF_ATTR not in trial.system_attrs and taken >= target:
            break
        if study._storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
            return optuna.Trial(study, trial._trial_id)
    if grid or taken >= target:
        return None
    return study.ask()


def run_one(
    sweep: LocalSweep,
    study: optuna.Study,
    trial: optuna.Trial,
    heartbeat: Heartbeat,
    interruption: Interruption,
) -> None:
    """Run ``trial`` and record how it ended (an unexpected error as a failure, then raised)."""
    heartbeat.started(trial)
    value, state = None, TrialState.FAIL
    try:
        value, state = sweep.objective(trial), TrialState.COMPLETE
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except TrialFailed as failure:
        print(f"trial {trial.number} failed: {failure}", file=sys.stderr)
    finally:
        heartbeat.finished(trial)
        record_end(study, trial, value, state, interruption)


def record_end(
    study: optuna.Study,
    trial: optuna.Trial,
    value: float | None,
    state: TrialState,
    interruption: Interruption,
) -> None:
    """Tell the study how ``trial`` ended; a trial stopped by an interruption is queued again."""
    stopped = state == TrialState.FAIL and interruption.event.is_set()
    try:
        if stopped:
            trial.storage.set_trial_system_attr(
                trial._trial_id, STOPPED_ATTR, interruption.signal_name
            )
        study.tell(trial, value, state=state)
    except UpdateFinishedTrialError:
        print(
            f"trial {trial.number}: another worker found no heartbeat from it and queued it "
            "again; this run's result is dropped",
            file=sys.stderr,
        )
        return
    if stopped:
        queue_retry(study, trial.storage.get_trial(trial._trial_id))
