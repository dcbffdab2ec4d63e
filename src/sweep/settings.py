"""What a local study is tied to: its sweep file and the Hydra overrides given after ``--``.

The trials of one study are ranked together (leaderboard, heatmap, the sampler's model), so
they must all have run the same command but for the swept values. A study records both when it
is created; a later run that brings other ones is refused with the difference, instead of
adding trials of another experiment to it. ``--continue-study`` adds trials with the study's
own recorded settings.

Workers on several nodes may start one study at the same moment. The storage lets exactly one of
them create it (a study's name is unique there); that one records the settings, queues every
cell of a grid (so that each cell runs once, whoever pulls it) and marks the study ready. The
others wait until it is ready and then check their settings against it, as a rerun does.
"""

from __future__ import annotations

import difflib
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage

from src.sweep.space import grid_space, make_pruner, make_sampler
from src.sweep.spec import SweepSpec, parse_sweep

CONTINUE_FLAG = "--continue-study"
_ATTRS = ("sweep_file", "sweep_text", "overrides")
READY_ATTR = "ready"  # set last by the creating process: settings recorded, grid queued
READY_TIMEOUT_S = 120.0
READY_POLL_S = 0.5


class StudySettingsMismatch(ValueError):
    """The study exists with another sweep file or other overrides than this run's."""


@dataclass(frozen=True)
class StudySettings:
    """The sweep file (its path, for messages, and its text, which is what counts) and the
    overrides appended to every trial's command."""

    sweep_file: str
    sweep_text: str
    overrides: tuple[str, ...]

    @classmethod
    def of(cls, sweep_file: Path, overrides: list[str]) -> StudySettings:
        return cls(str(sweep_file), sweep_file.read_text(), tuple(overrides))

    def same_as(self, other: StudySettings) -> bool:
        """Same overrides, in order, and the same sweep file content (comments and layout
        aside); where the file lies does not matter."""
        return self.overrides == other.overrides and yaml.safe_load(
            self.sweep_text
        ) == yaml.safe_load(other.sweep_text)


def _study_attrs(storage: BaseStorage, name: str) -> dict | None:
    try:
        return storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    except KeyError:
        return None


def recorded_settings(storage: BaseStorage, name: str) -> StudySettings | None:
    """The settings study ``name`` records in ``storage``; None if it does not exist yet (or
    was just created by another process that has not recorded them yet)."""
    attrs = _study_attrs(storage, name)
    if attrs is None or not all(key in attrs for key in _ATTRS):
        return None
    return StudySettings(attrs["sweep_file"], attrs["sweep_text"], tuple(attrs["overrides"]))


@dataclass(frozen=True)
class JoinedStudy:
    """The study this process adds trials to, with the settings and sweep they run."""

    study: optuna.Study
    settings: StudySettings
    spec: SweepSpec


def join_study(
    storage: BaseStorage,
    shown: str,
    name: str,
    spec: SweepSpec,
    given: StudySettings,
    continue_study: bool,
    seed: int | None,
) -> JoinedStudy:
    """Create study ``name`` with ``spec`` and ``given`` settings, or join it once it is ready:
    with its own settings under ``continue_study``, else if ``given`` matches them. ``shown``
    names the storage in messages."""
    if not continue_study:
        try:
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                direction="maximize" if spec.maximize else "minimize",
                sampler=make_sampler(spec, seed),
                pruner=make_pruner(spec),
            )
        except DuplicatedStudyError:
            pass  # it exists: join it below
        else:
            _set_up(study, spec, given)
            return JoinedStudy(study, given, spec)
    wait_until_ready(storage, shown, name, continue_study)
    settings = settings_for_run(storage, shown, name, given, continue_study)
    if settings is not given:
        spec = parse_sweep(settings.sweep_text, settings.sweep_file)
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=make_sampler(spec, seed), pruner=make_pruner(spec)
    )
    return JoinedStudy(study, settings, spec)


def _set_up(study: optuna.Study, spec: SweepSpec, settings: StudySettings) -> None:
    """What the creating process does before anyone else uses the study; ready comes last."""
    study.set_user_attr("sweep_file", settings.sweep_file)
    study.set_user_attr("sweep_text", settings.sweep_text)
    study.set_user_attr("overrides", list(settings.overrides))
    if spec.method == "grid":
        space = grid_space(spec)
        for cell in itertools.product(*space.values()):  # in the file's order, as W&B runs it
            study.enqueue_trial(dict(zip(space, cell, strict=True)))
    study.set_user_attr(READY_ATTR, True)


def wait_until_ready(storage: BaseStorage, shown: str, name: str, continue_study: bool) -> None:
    """Return once study ``name`` is set up by the process that created it."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        attrs = _study_attrs(storage, name)
        if attrs is None and continue_study:
            raise StudySettingsMismatch(
                f"{CONTINUE_FLAG}: there is no study {name!r} in {shown} to continue; check "
                "--study-name and --storage (or --out), or drop the flag to start it"
            )
        if attrs is not None and attrs.get(READY_ATTR):
            return
        if time.monotonic() > deadline:
            raise StudySettingsMismatch(
                f"study {name!r} in {shown} has not been set up {READY_TIMEOUT_S:.0f} s after "
                "its creation: the process that created it died while recording its settings "
                "and queueing its grid. Start a separate study with --study-name NEW, or delete "
                f"this one: optuna delete-study --study-name {name} --storage URL"
            )
        time.sleep(READY_POLL_S)


def settings_for_run(
    storage: BaseStorage, shown: str, name: str, given: StudySettings, continue_study: bool
) -> StudySettings:
    """The settings this run's trials use: the study's own with ``continue_study``, else
    ``given``, which must match the study's."""
    recorded = recorded_settings(storage, name)
    if recorded is None or recorded.same_as(given):
        return given
    if continue_study:
        return recorded
    raise StudySettingsMismatch(
        f"study {name!r} in {shown} was run with other settings, and its trials would be "
        f"ranked with this run's:\n{describe_difference(recorded, given)}\n"
        f"Pass {CONTINUE_FLAG} to add trials to it with its own settings, or --study-name NEW "
        "to start a separate study (with its own --out if you gave one)."
    )


def describe_difference(recorded: StudySettings, given: StudySettings) -> str:
    """The differing overrides (as typed) and a diff of the sweep files, one item a line."""
    lines = []
    if recorded.overrides != given.overrides:
        lines.append(
            f"  overrides after --: the study's {_shown(recorded.overrides)}, "
            f"this run's {_shown(given.overrides)}"
        )
    if yaml.safe_load(recorded.sweep_text) != yaml.safe_load(given.sweep_text):
        diff = difflib.unified_diff(
            recorded.sweep_text.splitlines(),
            given.sweep_text.splitlines(),
            f"the study's {recorded.sweep_file}",
            f"this run's {given.sweep_file}",
            lineterm="",
        )
        lines.append("  sweep file:")
        lines += [f"    {line}" for line in diff]
    return "\n".join(lines)


def _shown(overrides: tuple[str, ...]) -> str:
    return f"`{' '.join(overrides)}`" if overrides else "(none)"
