"""What ``src/train.py`` and ``src/eval.py`` do with a composed config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from src.cluster.process_layout import submitit_trainer_kwargs
from src.runs.final_validation import LAST_EPOCH, final_validation
from src.runs.identity import record_start, register_resolvers
from src.runs.lock import claim_run_dir
from src.runs.report import print_metrics, print_sources
from src.runs.resume import RESUME_KEY, check_resume_config, checkpoints_newest_first
from src.runs.stopped_fit import fit_until_stopped
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
        fit_until_stopped(trainer, model, datamodule, checkpoint)
    metrics = scalar_metrics(trainer.callback_metrics)
    sources = {LAST_EPOCH: dict(metrics)}
    if cfg.get("test", False) and not trainer.fast_dev_run:
        label, results = final_validation(trainer, model, datamodule)
        sources[label] = scalar_metrics(results)
        metrics.update(sources[label])
    print_sources(sources, title=f"{cfg.task_name}: final metrics")
    return metrics.get(cfg.get("optimized_metric"))


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
