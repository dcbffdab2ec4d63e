"""What ``src/train.py`` and ``src/eval.py`` do with a composed config."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from src.cluster.process_layout import submitit_trainer_kwargs
from src.runs.final_validation import LAST_EPOCH, validate_best_checkpoint
from src.runs.identity import record_start, register_resolvers
from src.runs.lock import claim_run_dir
from src.runs.report import print_metrics, print_sources
from src.runs.resume import (
    RESUME_COMMAND,
    RESUME_KEY,
    check_resume_config,
    checkpoints_newest_first,
)
from src.runs.stop_signals import (
    RunStopped,
    exit_code,
    stop_requested,
    stop_signals_end_at_once,
    stop_signals_recorded,
)
from src.runs.wandb_exit import finish_wandb_run
from src.tasks.batch_norm_check import warn_small_batch
from src.utils.checkpoint_io import CorruptCheckpoint, read_checkpoint
from src.utils.config_validation import check_devices, validate_config
from src.utils.git import git_commit
from src.utils.instantiate import instantiate_group
from src.utils.run_config import hydra_choices, print_config_tree, save_run_config
from src.weights_report import check_something_to_evaluate, print_released_weights_report

log = logging.getLogger(__name__)
register_resolvers()


def prepare(cfg: DictConfig, resume_from: str | None = None) -> None:
    """Check, show and record the config, then seed; nothing is read or built before this.

    ``resume_from`` is the checkpoint the run continues from: one in the run's own directory
    must come with a config that trains the same thing as the one saved there.
    """
    if cfg.extras.get("validate_config", True):
        validate_config(cfg)
        check_devices(cfg)
    output_dir = Path(cfg.paths.output_dir)
    claim_run_dir(output_dir)
    if resume_from and Path(resume_from).resolve().is_relative_to(output_dir.resolve()):
        check_resume_config(cfg, output_dir)
    if cfg.extras.get("print_config", True):
        print_config_tree(cfg)
    save_run_config(cfg, output_dir)
    record = record_start(output_dir, Path(cfg.paths.log_dir) / cfg.task_name, cfg.task_name)
    if record:  # rank zero
        log.info("Run %s in %s", record["id"], output_dir)
    L.seed_everything(cfg.seed, workers=True)


def build_model(cfg: DictConfig, restoring: bool) -> L.LightningModule:
    """The configured LightningModule; when a checkpoint will replace its weights, without
    reading (or downloading) the initial weights first: the backbone's ImageNet weights
    (``model.backbone.pretrained``) and a whole-model file (``model.pretrained``)."""
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    initial = [
        node for node in (model_cfg, model_cfg.get("backbone") or {}) if node.get("pretrained")
    ]
    if restoring and initial:
        log.info("Restoring from a checkpoint: the initial pretrained weights are not loaded")
        for node in initial:
            node["pretrained"] = None
    return hydra.utils.instantiate(model_cfg)


def join_model_and_data(model: L.LightningModule, datamodule: L.LightningDataModule) -> None:
    """The one place where model and data meet: the weights' evaluation protocol goes to the
    datamodule (whose explicit settings win), the data's class names to a model that reports
    per class, so neither reads the other through the trainer."""
    weights_protocol = getattr(model, "weights_protocol", None)
    if weights_protocol is not None:
        datamodule.follow_weights(*weights_protocol())
    if hasattr(model, "class_names"):
        model.class_names = getattr(datamodule, "class_names", None)


def load_trained(
    checkpoint: Path, config_path: Path | None = None, config_option: str = "--config "
) -> tuple[L.LightningModule, DictConfig]:
    """A run's model in eval mode with a checkpoint's weights, rebuilt from the run's own
    ``config_resolved.yaml`` (next to ``checkpoints/`` unless ``config_path`` names it), so it
    is the architecture, class count and settings the run trained. ``config_option`` is how
    the caller's command line names the config, for the error when it is not found."""
    config_path = config_path or checkpoint.parent.parent / "config_resolved.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"no run config at {config_path}; name it with {config_option}"
            "<run dir>/config_resolved.yaml"
        )
    cfg = OmegaConf.load(config_path)
    model = build_model(cfg, restoring=True)  # the checkpoint's weights, not ImageNet's
    model.load_state_dict(read_checkpoint(checkpoint)["state_dict"])
    return model.eval(), cfg


def build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        **submitit_trainer_kwargs(cfg.trainer),  # each task of a submitit job is one rank
    )
    run_info = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "hydra_choices": hydra_choices(),
        "git_commit": git_commit(Path(cfg.paths.root_dir)),
    }
    for logger in trainer.loggers:
        logger.log_hyperparams(run_info)
    return trainer


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str) -> str | None:
    """``last`` means the newest readable checkpoint of this run directory
    (:func:`checkpoints_newest_first`: ``checkpoints/last.ckpt`` unless it is damaged; a fresh
    start if there is none), so a requeued job with a pinned run dir resumes without editing its
    command. A damaged newer file is named in a warning, with the one resumed from instead."""
    if ckpt_path != "last":
        return ckpt_path
    run_dir = Path(output_dir)
    candidates = checkpoints_newest_first(run_dir)
    if not candidates:
        log.warning(
            "ckpt_path=last: no checkpoint in %s yet, starting from scratch. To continue an "
            "earlier run, name it: resume=<run dir | run id | latest>",
            run_dir,
        )
        return None
    damaged: list[str] = []
    for path in candidates:
        try:
            step = read_checkpoint(path, mmap=True).get("global_step")
        except CorruptCheckpoint as error:
            damaged.append(str(error))
            continue
        if damaged:
            log.warning(
                "%s; resuming from %s instead (step %s), the newest readable checkpoint: the "
                "steps after it are trained again",
                "; ".join(damaged),
                path,
                step,
            )
        log.info("Resuming from %s", path)
        return str(path)
    raise CorruptCheckpoint(
        f"no readable checkpoint in {run_dir}: {'; '.join(damaged)}. Nothing to resume from: "
        "start the run afresh in a new directory (leave out resume= / RUN_DIR)"
    )


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if getattr(v, "numel", lambda: 1)() == 1}


def train(cfg: DictConfig) -> float | None:
    """Fit, then validate the best checkpoint; return ``cfg.optimized_metric``'s value."""
    checkpoint = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.output_dir)
    if cfg.get(RESUME_KEY) and checkpoint is None:
        raise FileNotFoundError(f"resume={cfg.resume}: no checkpoint in {cfg.paths.output_dir}")
    prepare(cfg, resume_from=checkpoint)
    if cfg.get("train", True):
        warn_small_batch(cfg)  # a recipe BatchNorm cannot train well, said before the fit
    datamodule = hydra.utils.instantiate(cfg.data)
    model = build_model(cfg, restoring=checkpoint is not None)
    join_model_and_data(model, datamodule)
    trainer = build_trainer(cfg)
    if cfg.get("train", True):
        fit(trainer, model, datamodule, checkpoint)
    metrics = scalar_metrics(trainer.callback_metrics)
    sources = {LAST_EPOCH: dict(metrics)}
    if cfg.get("test", False) and not trainer.fast_dev_run:
        label, results = _final_validation(trainer, model, datamodule)
        sources[label] = scalar_metrics(results)
        metrics.update(sources[label])
    print_sources(sources, title=f"{cfg.task_name}: final metrics")
    return metrics.get(cfg.get("optimized_metric"))


def _final_validation(
    trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule
) -> tuple[str, dict[str, Any]]:
    """:func:`validate_best_checkpoint`; a stop signal ends it at once (training is over and
    checkpointed), saying which checkpoint holds the run and how to validate it again."""
    try:
        with stop_signals_end_at_once():
            return validate_best_checkpoint(trainer, model, datamodule)
    except RunStopped as stopped:
        callback = trainer.checkpoint_callback
        best = (
            getattr(callback, "best_model_path", "")
            or checkpoints_newest_first(trainer.default_root_dir)[0]
        )
        log.warning(
            "Run stopped by %s in the final validation; training had finished and %s holds "
            "it. Validate it with: python src/eval.py ckpt_path=%s (and the run's overrides)",
            signal.Signals(stopped.signum).name,
            Path(trainer.default_root_dir) / "checkpoints",
            best,
        )
        raise


def fit(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    checkpoint: str | None,
) -> None:
    """``trainer.fit``, ended by a stop signal (src/runs/stop_signals.py) with the run
    checkpointed, the command that resumes it printed, and :class:`RunStopped`'s exit code.

    The ranks of ``ddp_fork`` / ``ddp_spawn`` are this process's children: it passes each stop signal on to
    them, and waits for them to finish writing before it exits."""
    launcher = trainer.strategy.launcher
    held = "checkpointed"
    with stop_signals_recorded(forward=launcher.kill if launcher is not None else None):
        try:
            trainer.fit(model, datamodule, ckpt_path=checkpoint)
            signum = stop_requested()  # asked after the last epoch's checkpoint
        except BaseException as error:
            signum = error.signum if isinstance(error, RunStopped) else _stopped_ranks(launcher)
            if not signum and stop_requested() and _interrupted(error):
                # a second Ctrl-C: stopped at once, the exit code is still the first signal's
                signum, held = stop_requested(), _held_by(trainer.default_root_dir)
            if not signum:
                raise
    if signum:
        if trainer.is_global_zero:
            log.warning(
                "Run stopped by %s, %s. Resume it with: %s",
                signal.Signals(signum).name,
                held,
                RESUME_COMMAND.format(run_dir=trainer.default_root_dir),
            )
        finish_wandb_run(exit_code(signum))  # W&B would record 0 ("finished") at exit
        raise RunStopped(signum)


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` is a KeyboardInterrupt or the exit Lightning makes of one."""
    return isinstance(error, KeyboardInterrupt) or isinstance(error.__context__, KeyboardInterrupt)


def _held_by(run_dir: str) -> str:
    """Which checkpoint holds a run stopped before it could checkpoint its step."""
    newest = checkpoints_newest_first(run_dir)
    if not newest:
        return "at once, before its first checkpoint (the resume starts afresh)"
    step = read_checkpoint(newest[0], mmap=True).get("global_step")
    return f"at once, before a checkpoint of its step: {newest[0]} (step {step}) holds the run"


def _stopped_ranks(launcher: Any) -> int:
    """The stop signal this process passed on to the ranks it spawned, once they have all
    exited, if one of them ended with that signal's exit code (else 0: they failed)."""
    ranks = [process for process in getattr(launcher, "procs", []) if hasattr(process, "join")]
    for process in ranks:  # spawned ranks (the script launcher's are Popen, rank 0 is here)
        process.join()
    signum = stop_requested()
    stopped = signum and any(process.exitcode == exit_code(signum) for process in ranks)
    return signum if stopped else 0


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Validate ``cfg.ckpt_path`` (or, when null, the pretrained weights the model was built
    with) on the validation split and print the metrics table."""
    check_something_to_evaluate(cfg)
    prepare(cfg)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = build_model(cfg, restoring=bool(cfg.ckpt_path))
    join_model_and_data(model, datamodule)
    trainer = build_trainer(cfg)
    results = trainer.validate(model, datamodule, ckpt_path=cfg.ckpt_path, verbose=False)
    metrics = scalar_metrics(results[0]) if results else {}
    log.info("Evaluated %s", cfg.ckpt_path or "the pretrained weights")
    print_metrics(metrics, title="evaluation")
    if not cfg.ckpt_path:
        print_released_weights_report(model, datamodule, metrics)
    return metrics
