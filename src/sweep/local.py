"""Running a W&B sweep file without W&B: an Optuna study whose trials run the file's command.

The study lives in an Optuna storage (SQLite by default), so an interrupted sweep resumes and
processes on several machines given the same ``--storage`` URL and study name share it.
"""

from __future__ import annotations

import os
import queue
import signal
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.study import MaxTrialsCallback

from src.sweep.space import make_pruner, make_sampler, suggest_all
from src.sweep.spec import SweepSpec, build_command
from src.sweep.trial import TrialFailed, run_trial, stop_running_trials


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


def open_study(spec: SweepSpec, storage: str, name: str, seed: int | None) -> optuna.Study:
    """Create the study, or load it when ``name`` already exists in ``storage``."""
    return optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="maximize" if spec.maximize else "minimize",
        sampler=make_sampler(spec, seed),
        pruner=make_pruner(spec),
    )


def run_local_sweep(sweep: LocalSweep, study: optuna.Study, trials: int, workers: int) -> None:
    """Run until the study holds ``trials`` trials (those of other processes count too) or a
    grid is exhausted; ``workers`` trials at a time. A failed trial is recorded and skipped."""
    remaining = trials - len(study.get_trials(deepcopy=False))
    if remaining <= 0:
        return
    handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        study.optimize(
            sweep.objective,
            n_trials=remaining,
            n_jobs=workers,
            catch=(TrialFailed,),
            callbacks=[MaxTrialsCallback(trials, states=None)],
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C or a job's end: stop the trials first (worker threads wait on them), then stop."""
    stop_running_trials()
    raise KeyboardInterrupt(signal.Signals(signum).name)
