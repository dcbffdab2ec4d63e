"""What a local study is tied to: its sweep file and the Hydra overrides given after ``--``.

The trials of one study are ranked together (leaderboard, heatmap, the sampler's model), so
they must all have run the same command but for the swept values. A study records both when it
is created; a later run that brings other ones is refused with the difference, instead of
adding trials of another experiment to it. ``--continue-study`` adds trials with the study's
own recorded settings.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml

CONTINUE_FLAG = "--continue-study"
_ATTRS = ("sweep_file", "sweep_text", "overrides")


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


def recorded_settings(storage: str, name: str) -> StudySettings | None:
    """The settings study ``name`` records in ``storage``; None if it does not exist yet (or
    was just created by another process that has not recorded them yet)."""
    backend = optuna.storages.get_storage(storage)
    try:
        attrs = backend.get_study_user_attrs(backend.get_study_id_from_name(name))
    except KeyError:
        return None
    if not all(key in attrs for key in _ATTRS):
        return None
    return StudySettings(attrs["sweep_file"], attrs["sweep_text"], tuple(attrs["overrides"]))


def settings_for_run(
    storage: str, name: str, given: StudySettings, continue_study: bool
) -> StudySettings:
    """The settings this run's trials use: the study's own with ``continue_study``, else
    ``given``, which must match the study's if it exists."""
    recorded = recorded_settings(storage, name)
    if continue_study:
        if recorded is None:
            raise StudySettingsMismatch(
                f"{CONTINUE_FLAG}: there is no study {name!r} in {storage} to continue; check "
                "--study-name and --storage (or --out), or drop the flag to start it"
            )
        return recorded
    if recorded is None or recorded.same_as(given):
        return given
    raise StudySettingsMismatch(
        f"study {name!r} in {storage} was run with other settings, and its trials would be "
        f"ranked with this run's:\n{describe_difference(recorded, given)}\n"
        f"Pass {CONTINUE_FLAG} to add trials to it with its own settings, or --study-name NEW "
        "to start a separate study (with its own --out if you gave one)."
    )


def record(study: optuna.Study, settings: StudySettings) -> None:
    """Store ``settings`` in a study that has none recorded yet."""
    if not all(key in study.user_attrs for key in _ATTRS):
        study.set_user_attr("sweep_file", settings.sweep_file)
        study.set_user_attr("sweep_text", settings.sweep_text)
        study.set_user_attr("overrides", list(settings.overrides))


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
