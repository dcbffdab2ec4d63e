"""``resume=<run dir | run id | latest>``: continue an earlier run in its own directory.

Hydra picks the run directory before the application runs, so ``resume=`` is turned into a
command line before Hydra parses it (:func:`resume_command_line`): the run directory is pinned
(``RUN_DIR``), the run's saved overrides (``.hydra/overrides.yaml``) come first so its config is
composed again, the new ones after them, and ``ckpt_path=last`` picks its newest checkpoint.
The ``resume=`` value becomes the directory itself, so processes that re-run the command line
(Lightning's DDP launcher) find the same run even if a newer one started meanwhile.

Whatever resumes a checkpoint in its own run directory (``resume=``, or ``ckpt_path=last`` with a
pinned ``RUN_DIR`` on a cluster) is checked against the config saved there
(:func:`check_resume_config`, :func:`check_same_processes`): overrides that change what is
trained, or the number of processes, are refused, before Hydra writes anything into the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.cluster.process_layout import requested_devices
from src.runs.identity import RUN_RECORD, RUNS_FOLDER, read_run_record
from src.utils.config_validation import ConfigError

RESUME_KEY = "resume"
LATEST = "latest"
# what a user types to carry on a run in its directory (printed wherever a run stops early)
RESUME_COMMAND = "python src/train.py resume={run_dir}"
SAVED_CONFIG = "config_resolved.yaml"
SAVED_OVERRIDES = Path(".hydra") / "overrides.yaml"
# What a run trains is its model, its data and its seed; of those, these keys only say where
# and how fast the data is read, and may change between a run and its resume.
TRAINING_SECTIONS = ("model", "data", "seed")
RESUMABLE_KEYS = (
    "data.root",
    "data.num_workers",
    "data.pin_memory",
    "data.persistent_workers",
    "model.backbone.pretrained",  # the checkpoint replaces the initial weights
)


def resume_command_line(argv: list[str], config_dir: Path, config_name: str) -> list[str]:
    """``argv`` (without the program) with ``resume=`` expanded; unchanged without it."""
    value = _override_value(argv, RESUME_KEY)
    if value in (None, "null"):
        _check_pinned_resume(argv, config_dir, config_name)
        return argv
    settings = _compose_settings(argv, config_dir, config_name)
    task_dir = Path(settings["log_dir"]) / settings["task_name"]
    run_dir = find_run(value, task_dir)
    pinned = os.environ.get("RUN_DIR")
    if pinned and Path(pinned).resolve() != run_dir:
        raise ConfigError(
            f"resume={value} is run {run_dir}, but RUN_DIR={pinned} pins another directory; "
            "unset RUN_DIR or drop resume="
        )
    saved = [o for o in _saved_overrides(run_dir) if _key(o) not in (RESUME_KEY, "ckpt_path")]
    given = [o for o in argv if _key(o) not in (RESUME_KEY, "ckpt_path")]
    checkpoint = _override_value(argv, "ckpt_path") or "last"  # a file given is taken
    merged = _merge(saved, given)
    # refused here, before Hydra writes its files and log into the run directory
    cfg = _compose(merged, config_dir, config_name, f"resume={value}")
    check_resume_config(cfg, run_dir)
    check_same_processes(cfg, run_dir)
    os.environ["RUN_DIR"] = str(run_dir)
    return [*merged, f"{RESUME_KEY}={run_dir}", f"ckpt_path={checkpoint}"]


def is_multirun(argv: list[str]) -> bool:
    """Whether Hydra runs ``argv`` as a multirun, whose jobs have directories of their own."""
    return any(arg in ("-m", "--multirun") for arg in argv)


def _check_pinned_resume(argv: list[str], config_dir: Path, config_name: str) -> None:
    """``ckpt_path=last`` in a run directory pinned by ``RUN_DIR`` (a requeued or restarted
    cluster job) that already holds a run: refused here, like ``resume=``, before Hydra writes
    into it, when the command line trains something else or on another number of processes."""
    pinned = os.environ.get("RUN_DIR")
    if (
        not pinned
        or is_multirun(argv)
        or _override_value(argv, "ckpt_path") != "last"
        or not (Path(pinned) / SAVED_CONFIG).is_file()
    ):
        return
    overrides = [o for o in argv if not o.startswith("-")]
    cfg = _compose(overrides, config_dir, config_name, f"ckpt_path=last in RUN_DIR={pinned}")
    check_resume_config(cfg, pinned)
    check_same_processes(cfg, pinned)


def find_run(value: str, task_dir: Path) -> Path:
    """The run directory that ``resume=value`` names, with a checkpoint to resume from."""
    candidates = [Path(value), task_dir / RUNS_FOLDER / value, task_dir / value]
    if value == LATEST:
        runs = recorded_runs(task_dir)
        if not runs:
            raise ConfigError(
                f"resume=latest: no runs of task '{task_dir.name}' under {task_dir} yet"
            )
        candidates = [runs[-1]]
    run_dir = next((path.resolve() for path in candidates if path.is_dir()), None)
    if run_dir is None:
        recent = ", ".join(str(path.relative_to(task_dir)) for path in recorded_runs(task_dir)[-3:])
        raise ConfigError(
            f"resume={value}: no run directory of that name or id (looked in {task_dir}). "
            f"Recent runs: {recent or 'none'}; resume=latest takes the newest."
        )
    if not has_checkpoint(run_dir):
        raise ConfigError(
            f"resume={value}: run {run_dir} has no checkpoint to resume from "
            "(checkpoints/*.ckpt); start it again without resume="
        )
    return run_dir


def recorded_runs(task_dir: Path) -> list[Path]:
    """The task's run directories (plain, multirun jobs, pinned below the task), oldest first."""
    records = [*task_dir.glob(f"*/*/{RUN_RECORD}"), *task_dir.glob(f"*/*/*/{RUN_RECORD}")]

    def started(record_path: Path) -> tuple[str, float]:
        starts = read_run_record(record_path.parent).get("starts") or [{}]
        return (str(starts[0].get("time", "")), record_path.stat().st_mtime)

    return [path.parent for path in sorted(records, key=started)]


def checkpoints_newest_first(run_dir: str | Path) -> list[Path]:
    """What a run directory can resume from, newest first: ``checkpoints/last.ckpt``, the best
    checkpoints beside it (``epoch_*.ckpt``: an epoch's end, a fallback when ``last.ckpt`` is
    damaged) and the ``hpc_ckpt_*.ckpt`` of SLURM requeues made before stop signals wrote
    ``last.ckpt``."""
    run_dir = Path(run_dir)
    found = [
        *(run_dir / "checkpoints").glob("*.ckpt"),
        *run_dir.glob("hpc_ckpt_*.ckpt"),
    ]
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)


def has_checkpoint(run_dir: Path) -> bool:
    return bool(checkpoints_newest_first(run_dir))


def check_resume_config(cfg: DictConfig, run_dir: str | Path) -> None:
    """Refuse a resume whose config trains something else than the run's saved config."""
    saved_path = Path(run_dir) / SAVED_CONFIG
    if not saved_path.is_file():
        return
    saved = _flatten(yaml.safe_load(saved_path.read_text()) or {})
    sections = {key: cfg[key] for key in TRAINING_SECTIONS}  # resolved where read
    current = _flatten(
        {
            key: OmegaConf.to_container(value, resolve=True)
            if OmegaConf.is_config(value)
            else value
            for key, value in sections.items()
        }
    )
    changed = [
        f"{key}: {saved.get(key, '<unset>')!r} -> {current.get(key, '<unset>')!r}"
        for key in sorted(set(saved) | set(current))
        if key.split(".")[0] in TRAINING_SECTIONS
        and not key.startswith(RESUMABLE_KEYS)
        and saved.get(key) != current.get(key)
    ]
    if changed:
        raise ConfigError(
            f"resuming run {run_dir} with a config that changes what it trains: "
            f"{'; '.join(changed)}. A resumed run keeps its saved config ({saved_path}); start "
            "a new run for other settings. Overrides that extend a run (trainer.max_epochs, "
            "callbacks, loggers, data.num_workers) are taken."
        )


def check_same_processes(cfg: DictConfig, run_dir: str | Path) -> None:
    """Refuse to resume on another number of processes than the run was trained on: each
    process's slice of an epoch and the LR schedule's steps follow from it, so the interrupted
    epoch would repeat or skip samples and the schedule would be re-planned. (Where the count is
    left to the machine, ``trainer.devices=auto``, the checkpoint's loader state checks it.)"""
    saved_path = Path(run_dir) / SAVED_CONFIG
    if not saved_path.is_file():
        return
    saved = (yaml.safe_load(saved_path.read_text()) or {}).get("trainer", {})
    trained_on, resumed_on = processes(saved), processes(cfg.trainer)
    if trained_on and resumed_on and trained_on != resumed_on:
        raise ConfigError(
            f"run {run_dir} was trained on {trained_on} processes (trainer.devices="
            f"{saved.get('devices')}, trainer.num_nodes={saved.get('num_nodes', 1)}); resuming "
            f"it on {resumed_on} would repeat or skip samples of the interrupted epoch and change "
            "the steps of its LR schedule. Resume it with the same trainer.devices and "
            "trainer.num_nodes (the same trainer= preset), or start a new run from its weights "
            "(model.pretrained=<checkpoint>)."
        )


def processes(trainer: Any) -> int | None:
    """How many training processes a trainer config asks for; None where the machine decides."""
    devices = requested_devices(trainer.get("devices", 1))
    return devices * int(trainer.get("num_nodes", 1) or 1) if devices else None


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _key(override: str) -> str:
    """The config key an override sets (``+a.b=1`` -> ``a.b``; ``~a`` -> ``a``)."""
    return override.split("=", 1)[0].lstrip("+~")


def _override_value(argv: list[str], key: str) -> str | None:
    values = [o.split("=", 1)[1] for o in argv if "=" in o and _key(o) == key]
    return values[-1] if values else None


def _merge(saved: list[str], given: list[str]) -> list[str]:
    """``saved`` with each key that ``given`` sets replaced; a key the run added (``+k=v``) is
    still added when given again without the ``+``."""
    given_keys = {_key(o): o for o in given}
    added = {_key(o) for o in saved if o.startswith("+")}
    kept = [o for o in saved if _key(o) not in given_keys]
    again = [f"+{o}" if _key(o) in added and not o.startswith(("+", "~")) else o for o in given]
    return [*kept, *again]


def _saved_overrides(run_dir: Path) -> list[str]:
    path = run_dir / SAVED_OVERRIDES
    if not path.is_file():
        raise ConfigError(
            f"run {run_dir} has no {SAVED_OVERRIDES} (written by Hydra at its start), so its "
            "config cannot be composed again; resume it with RUN_DIR=<run dir> and the original "
            "overrides plus ckpt_path=last"
        )
    return list(yaml.safe_load(path.read_text()) or [])


def _compose(overrides: list[str], config_dir: Path, config_name: str, asked: str) -> DictConfig:
    """The config that ``overrides`` compose (without Hydra's own node)."""
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return compose(
                config_name, overrides=[o for o in overrides if not o.startswith("hydra")]
            )
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(
            f"{asked}: the run's overrides with the new ones do not compose: {error}"
        ) from None


def _compose_settings(argv: list[str], config_dir: Path, config_name: str) -> dict[str, str]:
    """``paths.log_dir`` and ``task_name`` as the command line would compose them."""
    overrides = [o for o in argv if not o.startswith("-") and _key(o) != RESUME_KEY]
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name, overrides=[o for o in overrides if not o.startswith("hydra")])
    return {"log_dir": cfg.paths.log_dir, "task_name": cfg.task_name}
