"""Trials of a worker that is gone are found and run again, on any storage.

Every worker process beats for its running trials: every ``interval`` seconds it writes the time
into each one's system attributes, beside the interval itself. A running trial whose last beat
(or start) is older than ``GRACE_BEATS`` of its own intervals belongs to a worker that was
killed, preempted or lost with its node: the first worker to see it marks it failed and queues a
retry with the same parameters, which the next free worker runs. A trial the owning worker
stopped itself (the worker was interrupted) is retried the same way.

Optuna's own heartbeat does this for database storages only; this one works the same on SQLite,
PostgreSQL and a journal file. The clocks compared are the workers' wall clocks, which a cluster
keeps within far less than a grace period of each other.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

BEAT_ATTR = "heartbeat"  # the time of the last beat, seconds since the epoch
INTERVAL_ATTR = "heartbeat_interval"  # the owner's interval, so every worker judges it alike
RETRY_OF_ATTR = "retry_of"  # on a retry: the number of the trial it runs again
ATTEMPT_ATTR = "attempt"  # 1 for a first run, 2 for its first retry, ...
STOPPED_ATTR = "stopped_by"  # on a trial its own worker stopped: the signal's name
GRACE_BEATS = 3
MAX_ATTEMPTS = 3  # a cell whose worker dies three times in a row is left failed
DEFAULT_INTERVAL_S = 30.0


class Heartbeat:
    """The beating thread of one worker process: ``with Heartbeat(study, interval) as beat:``,
    then ``beat.started(trial)`` / ``beat.finished(trial)`` around each trial. Each beat also
    fails and retries the stale trials of other workers."""

    def __init__(self, study: optuna.Study, interval: float) -> None:
        self.study = study
        self.interval = interval
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweep-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def started(self, trial: optuna.Trial) -> None:
        storage = self.study._storage
        storage.set_trial_system_attr(trial._trial_id, INTERVAL_ATTR, self.interval)
        storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR, time.time())
        with self._lock:
            self._trial_ids.add(trial._trial_id)

    def finished(self, trial: optuna.Trial) -> None:
        with self._lock:
            self._trial_ids.discard(trial._trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                trial_ids = list(self._trial_ids)
            for trial_id in trial_ids:
                # finished meanwhile, or failed by a worker that took this one for dead
                with contextlib.suppress(UpdateFinishedTrialError):
                    self.study._storage.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())
            retry_stale_trials(self.study)


def last_sign_of_life(trial: FrozenTrial) -> float:
    """The later of the trial's last beat and its start, in seconds since the epoch."""
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return max(trial.system_attrs.get(BEAT_ATTR, 0.0), started)


def retry_stale_trials(study: optuna.Study, now: float | None = None) -> list[int]:
    """Fail every running trial whose worker stopped beating and queue its retry; the numbers
    of the trials failed here (another worker may get there first: each is failed once)."""
    now = time.time() if now is None else now
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        interval = trial.system_attrs.get(INTERVAL_ATTR)
        if interval is None or now - last_sign_of_life(trial) <= GRACE_BEATS * interval:
            continue  # alive, or run by a process without heartbeats
        try:
            if not study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # it finished, or another worker failed it first
        queue_retry(study, trial)
        failed.append(trial.number)
    return failed


def queue_retry(study: optuna.Study, trial: FrozenTrial) -> None:
    """A waiting trial with ``trial``'s parameters, unless the cell has had its attempts."""
    attempt = trial.system_attrs.get(ATTEMPT_ATTR, 1)
    if attempt >= MAX_ATTEMPTS:
        return
    system_attrs: dict[str, Any] = {RETRY_OF_ATTR: trial.number, ATTEMPT_ATTR: attempt + 1}
    if "fixed_params" in trial.system_attrs:  # a queued grid cell stays that cell
        system_attrs["fixed_params"] = trial.system_attrs["fixed_params"]
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            system_attrs=system_attrs,
        )
    )


def retried_numbers(trials: list[FrozenTrial]) -> dict[int, int]:
    """Failed trial number -> the number of the trial that runs it again."""
    return {
        t.system_attrs[RETRY_OF_ATTR]: t.number for t in trials if RETRY_OF_ATTR in t.system_attrs
    }
