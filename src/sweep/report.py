"""What a finished offline sweep shows: a leaderboard table and one plot, or why it failed.

Two swept categorical parameters (radix x cardinality) give a heatmap of the best value per cell;
anything else gives the metric per trial beside the metric against each swept parameter. When
every trial failed, the end of the first failure's log says why (usually the same for all).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from src.sweep.heartbeat import RETRY_OF_ATTR, STOPPED_ATTR, retried_numbers  # noqa: E402
from src.sweep.space import distribution, encode, swept  # noqa: E402
from src.sweep.spec import SweepSpec  # noqa: E402
from src.sweep.trial import LOG_FILE  # noqa: E402
from src.utils.table import Table  # noqa: E402

FAILURE_TAIL_LINES = 25


def trial_score(trial: FrozenTrial) -> float | None:
    """The final value of a completed trial, the last reported one of a pruned trial."""
    if trial.state == TrialState.COMPLETE:
        return trial.value
    if trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def ranked(study: optuna.Study, spec: SweepSpec) -> list[FrozenTrial]:
    """Completed trials best first, then pruned ones by their last value, then the rest; trials
    still waiting in the queue (grid cells, retries) are not shown."""
    order = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1}
    sign = -1.0 if spec.maximize else 1.0

    def key(trial: FrozenTrial) -> tuple[int, float]:
        score = trial_score(trial)
        return order.get(trial.state, 2), sign * score if score is not None else float("inf")

    started = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    return sorted(started, key=key)


def retry_note(trial: FrozenTrial, retried_as: dict[int, int]) -> str:
    """Why a failed trial ran again and as which one, or which one a retry repeats."""
    notes = []
    if RETRY_OF_ATTR in trial.system_attrs:
        notes.append(f"retry of {trial.system_attrs[RETRY_OF_ATTR]}")
    if trial.number in retried_as:
        why = trial.system_attrs.get(STOPPED_ATTR, "worker lost")  # a signal's name, or no beat
        notes.append(f"{why}: retried as {retried_as[trial.number]}")
    return "; ".join(notes)


def leaderboard(study: optuna.Study, spec: SweepSpec) -> Table:
    names = list(swept(spec))
    table = Table(
        title=f"{study.study_name}: {spec.metric} ({spec.goal})",
        columns=["trial", "state", spec.metric, "epochs", *short_names(names), "min", "retry"],
        text_columns={"state", "retry"},
    )
    retried_as = retried_numbers(study.get_trials(deepcopy=False))
    for trial in ranked(study, spec):  # best first
        score = trial_score(trial)
        minutes = f"{trial.duration.total_seconds() / 60:.1f}" if trial.duration is not None else ""
        table.add_row(
            str(trial.number),
            trial.state.name.lower(),
            f"{score:.4f}" if score is not None else "",
            str(len(trial.intermediate_values)),
            *(fmt_value(trial.params.get(name, "")) for name in names),
            minutes,
            retry_note(trial, retried_as),
        )
    waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    if waiting:
        table.notes.append(
            f"{waiting} trials wait in the queue (grid cells past --trials, retries of stopped "
            "trials): the next run of the command takes them"
        )
    return table


def all_failed_report(study: optuna.Study) -> str | None:
    """None unless the study has trials and every one failed; then the first failure's log
    path and its last lines."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    if not trials or any(trial.state != TrialState.FAIL for trial in trials):
        return None
    first = min(trials, key=lambda trial: trial.number)
    log = Path(first.user_attrs.get("run_dir", "")) / LOG_FILE
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else ["(no output)"]
    tail = lines[-FAILURE_TAIL_LINES:]
    return (
        f"every trial of study {study.study_name!r} failed ({len(trials)}); "
        f"trial {first.number}'s log {log} ends with:\n" + "\n".join(f"  {line}" for line in tail)
    )


def short_names(names: list[str]) -> list[str]:
    """Column titles: the last part of each dotted name, the whole name where that is ambiguous."""
    last = [name.rsplit(".", 1)[-1] for name in names]
    return [part if last.count(part) == 1 else name for part, name in zip(last, names, strict=True)]


def fmt_value(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_study(study: optuna.Study, spec: SweepSpec, path: Path) -> Path:
    """Write the sweep's plot to ``path`` and return it."""
    parameters = swept(spec)
    categorical = [n for n, p in parameters.items() if distribution(n, p) == "categorical"]
    if len(parameters) == 2 and len(categorical) == 2:
        figure = _heatmap(study, spec, *categorical)
    else:
        figure = _scatter(study, spec, list(parameters))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _heatmap(study: optuna.Study, spec: SweepSpec, x_name: str, y_name: str) -> plt.Figure:
    """Best final value per cell; cells without a completed trial stay blank."""
    xs = [encode(v) for v in spec.parameters[x_name]["values"]]
    ys = [encode(v) for v in spec.parameters[y_name]["values"]]
    grid = [[float("nan")] * len(xs) for _ in ys]
    better = max if spec.maximize else min
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row, column = ys.index(trial.params[y_name]), xs.index(trial.params[x_name])
        old = grid[row][column]
        grid[row][column] = trial.value if old != old else better(old, trial.value)
    figure, axis = plt.subplots(figsize=(1.4 * len(xs) + 2, 1.1 * len(ys) + 1.5))
    image = axis.imshow(grid, cmap="viridis", origin="lower")
    for row, values in enumerate(grid):
        for column, value in enumerate(values):
            if value == value:  # not NaN
                color = "w" if image.norm(value) < 0.5 else "k"
                axis.text(column, row, f"{value:.3f}", ha="center", va="center", color=color)
    axis.set_xticks(range(len(xs)), [str(x) for x in xs])
    axis.set_yticks(range(len(ys)), [str(y) for y in ys])
    axis.set_xlabel(x_name)
    axis.set_ylabel(y_name)
    axis.set_title(f"{spec.metric} ({spec.path.stem})")
    figure.colorbar(image, ax=axis)
    figure.tight_layout()
    return figure


def _scatter(study: optuna.Study, spec: SweepSpec, names: list[str]) -> plt.Figure:
    """The metric per trial number, then against each swept parameter (pruned trials hollow)."""
    trials = [t for t in study.get_trials(deepcopy=False) if trial_score(t) is not None]
    figure, axes = plt.subplots(
        1, 1 + len(names), figsize=(4 * (1 + len(names)), 3.5), squeeze=False
    )
    for axis, name in zip(axes[0], ["trial", *names], strict=True):
        for state, fill in ((TrialState.COMPLETE, "C0"), (TrialState.PRUNED, "none")):
            chosen = [t for t in trials if t.state == state]
            xs = [t.number if name == "trial" else str_or_number(t.params[name]) for t in chosen]
            axis.scatter(xs, [trial_score(t) for t in chosen], facecolors=fill, edgecolors="C0")
        if name != "trial" and "log" in distribution(name, spec.parameters[name]):
            axis.set_xscale("log")
        axis.set_xlabel(name)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel(spec.metric)
    figure.suptitle(f"{spec.path.stem}: {spec.metric} (hollow: pruned)")
    figure.tight_layout()
    return figure


def str_or_number(value: object) -> object:
    """Numbers stay numeric on the axis; anything else (lists as JSON text) is a category."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
