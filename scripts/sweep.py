"""Run a W&B sweep file offline, with Optuna, and show the results.

    python scripts/sweep.py configs/sweep/radix_cardinality.yaml --local --trials 12
    python scripts/sweep.py configs/sweep/optimizer.yaml --local --trials 30 --workers 2 \\
        --gpus-per-trial 4 -- experiment=resnest_cls data.root=/data/imagenet

Each trial runs the file's own command (``${interpreter}`` = this Python) with the trial's values
as ``k=v`` and the overrides after ``--`` appended. The study is kept in SQLite under
``--out`` unless ``--storage`` names a database (postgresql://USER@HOST/DB) or a journal file
on a shared filesystem (journal:PATH); with the same storage and study name, processes on
several nodes share one study: each grid cell runs once, and the trial of a worker that dies
(no heartbeat for three intervals) runs again on another. With ``--gpus-per-trial K`` each
worker's trials see only their own K GPUs. At the end: a leaderboard and a plot; if every trial
failed, the end of the first failure's log and exit 1. SIGINT/SIGTERM stop the trials, queue
them again for the next run of the command, and exit 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as a file, not as the module scripts.sweep: the root on sys.path
    import project_root  # noqa: F401  (scripts/project_root.py)

import optuna
import rich

from src.project_root import PROJECT_ROOT
from src.sweep.gpus import gpu_slots
from src.sweep.heartbeat import DEFAULT_INTERVAL_S
from src.sweep.local import LocalSweep, run_local_sweep
from src.sweep.report import all_failed_report, leaderboard, plot_study
from src.sweep.settings import CONTINUE_FLAG, StudySettings, StudySettingsMismatch, join_study
from src.sweep.spec import load_sweep
from src.sweep.storage import StorageError, open_storage, shown

SETTINGS_RULE = (
    "A study is tied to its sweep file (its content) and the overrides after --: rerunning it "
    "adds trials only with the same ones. Other ones are refused with the difference; "
    f"{CONTINUE_FLAG} adds trials with the study's recorded settings, --study-name NEW starts "
    "a separate study."
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage="%(prog)s SWEEP_FILE --local --trials N [options] [-- hydra overrides...]",
        epilog=SETTINGS_RULE,
    )
    parser.add_argument("sweep_file", type=Path, help="a W&B sweep file, e.g. configs/sweep/*.yaml")
    parser.add_argument("--local", action="store_true", help="run here with Optuna (required)")
    parser.add_argument("--trials", type=int, required=True, help="trials in the study in total")
    parser.add_argument("--workers", type=int, default=1, help="trials run at the same time")
    parser.add_argument(
        "--gpus-per-trial", type=int, default=0, help="pin each worker's trials to their own GPUs"
    )
    parser.add_argument(
        "--storage",
        help="sqlite:///FILE, postgresql://USER@HOST/DB or journal:PATH on a shared filesystem "
        "(default: SQLite in --out)",
    )
    parser.add_argument("--study-name", help="default: the sweep file's name")
    parser.add_argument("--out", type=Path, help="default: logs/sweeps/<study name>")
    parser.add_argument("--seed", type=int, help="sampler seed")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help="how often a worker signs its running trials alive; one silent for three of its "
        "intervals is failed and run again (default: %(default)s)",
    )
    parser.add_argument(
        CONTINUE_FLAG,
        action="store_true",
        help="add trials to the existing study with the sweep file and overrides it recorded",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.overrides = argv[split + 1 :]  # Hydra overrides for every trial
    if not args.local:
        parser.error(
            "without --local, let W&B run the file: `wandb sweep FILE`, then "
            "`scripts/sweep_agent.sh SWEEP_ID`; pass --local to run it here with Optuna"
        )
    if args.trials < 1 or args.workers < 1 or args.gpus_per_trial < 0 or args.heartbeat <= 0:
        parser.error(
            "--trials and --workers must be at least 1, --gpus-per-trial at least 0, "
            "--heartbeat more than 0"
        )
    return args


def main(argv: Sequence[str] | None = None) -> optuna.Study:
    args = parse_args(argv)
    spec = load_sweep(args.sweep_file)
    try:
        slots = gpu_slots(args.gpus_per_trial, args.workers) if args.gpus_per_trial else None
    except ValueError as error:
        raise SystemExit(f"sweep.py: {error}") from None
    name = args.study_name or spec.path.stem
    out_dir = (args.out or PROJECT_ROOT / "logs" / "sweeps" / name).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    url = args.storage or f"sqlite:///{out_dir / 'study.db'}"
    try:
        storage = open_storage(url)
        given = StudySettings.of(args.sweep_file, args.overrides)
        joined = join_study(storage, shown(url), name, spec, given, args.continue_study, args.seed)
    except (StorageError, StudySettingsMismatch) as error:
        raise SystemExit(f"sweep.py: {error}") from None
    study, settings, spec = joined.study, joined.settings, joined.spec
    if settings is not given:
        print(f"continuing study {name} with its overrides: {' '.join(settings.overrides)}")
    sweep = LocalSweep(spec, out_dir, PROJECT_ROOT, sys.executable, list(settings.overrides), slots)
    stopped_by = run_local_sweep(sweep, study, args.trials, args.workers, args.heartbeat)
    rich.print(leaderboard(study, spec))
    plot = plot_study(study, spec, out_dir / f"{name}.png")
    print(f"study: {name} in {shown(url)}\ntrial runs: {out_dir}/trial_*\nplot: {plot}")
    if stopped_by is not None:
        print(
            f"sweep.py: stopped by {stopped_by}; the trials it stopped are queued again for the "
            "next run of this command (or another worker of the study)",
            file=sys.stderr,
        )
        raise SystemExit(128 + signal.Signals[stopped_by].value)
    failure = all_failed_report(study)
    if failure is not None:
        raise SystemExit(f"sweep.py: {failure}")
    return study


if __name__ == "__main__":
    main()
