"""Whether a checkpoint's weights fit the model built from the config, said once.

Lightning's strict ``load_state_dict`` lists every missing and unexpected key: for a checkpoint
of the other task, thousands of lines that hide the reason. The task modules call
:func:`check_checkpoint_fits` from ``on_load_checkpoint``, which Lightning runs before that
load (for ``eval.py``, a resume and ``load_from_checkpoint`` alike): a mismatch becomes one
error with the counts, the first few keys and the likely cause, read from the checkpoint's
hyper-parameters and from the run directory it was written into.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning import LightningModule

from src.utils.run_config import hydra_choices

SHOWN_KEYS = 4
CHOICES_FILE = "hydra_choices.yaml"  # written into every run directory (src/utils/run_config.py)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose weights do not fit the model the config builds."""


def check_checkpoint_fits(module: LightningModule, checkpoint: dict[str, Any]) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``checkpoint["state_dict"]`` has exactly
    the keys and shapes of ``module.state_dict()``."""
    expected = module.state_dict()
    found = checkpoint.get("state_dict") or {}
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    reshaped = [
        f"{key} {_shape(found[key])} (model: {_shape(expected[key])})"
        for key in expected
        if key in found and _shape(found[key]) != _shape(expected[key])
    ]
    if not (missing or unexpected or reshaped):
        return
    path = _checkpoint_path(module)
    lines = [
        f"{f'checkpoint {path}' if path else 'the checkpoint'} does not fit the "
        f"{type(module).__name__} this config builds: "
        f"of the model's {len(expected)} weights {len(missing)} are missing and "
        f"{len(reshaped)} have another shape; {len(unexpected)} of the checkpoint's "
        f"{len(found)} are unexpected."
    ]
    for label, keys in (
        ("missing", missing),
        ("other shape", reshaped),
        ("unexpected", unexpected),
    ):
        if keys:
            more = f", ... ({len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
            lines.append(f"  {label}: {', '.join(keys[:SHOWN_KEYS])}{more}")
    lines.append(f"Likely cause: {likely_cause(module, checkpoint, path)}")
    raise CheckpointMismatchError("\n".join(lines))


def likely_cause(module: LightningModule, checkpoint: dict[str, Any], path: Path | None) -> str:
    """Another kind of model (its hyper-parameters are not this module's arguments), or the
    same kind with other settings (the hyper-parameters that differ)."""
    saved = checkpoint.get("hyper_parameters") or {}
    trained = _run_choices(path)
    use = f"use experiment={trained['experiment']}" if "experiment" in trained else ""
    if not saved:
        return "a checkpoint written by other code; " + (
            use or "evaluate it with its own run's config"
        )
    arguments = set(inspect.signature(type(module).__init__).parameters) - {"self"}
    if set(saved) != arguments:
        theirs = (
            f"a {trained['model']} checkpoint"
            if "model" in trained
            else "the checkpoint of another kind of model"
        )
        ours = hydra_choices().get("model")
        under = f" under a {ours} experiment" if ours else f" for {type(module).__name__}"
        return f"{theirs}{under}: " + (use or "use an experiment of the checkpoint's task")
    differing = [
        f"{name}={_shown(theirs)} (config: {_shown(ours)})"
        for name, theirs, ours in _differences(saved, dict(module.hparams))
    ]
    if not differing:
        return "the same settings but other weight names: a checkpoint of older code"
    fix = use + " with the run's overrides" if use else "build the model as the run did"
    return f"it was trained with {', '.join(differing[:SHOWN_KEYS])}; {fix}"


def _differences(
    saved: dict[str, Any], current: dict[str, Any], prefix: str = "model."
) -> Iterator[tuple[str, Any, Any]]:
    """(dotted name, saved value, current value) of every hyper-parameter that differs."""
    for name in sorted(set(saved) | set(current)):
        theirs, ours = saved.get(name), current.get(name)
        if isinstance(theirs, dict) and isinstance(ours, dict):
            yield from _differences(theirs, ours, f"{prefix}{name}.")
        elif theirs != ours:
            yield f"{prefix}{name}", theirs, ours


def _shown(value: Any) -> str:
    """A value as it is written on the command line (null, not None)."""
    return "null" if value is None else repr(value)


def _shape(value: Any) -> list[int]:
    return list(value.shape) if isinstance(value, torch.Tensor) else []


def _checkpoint_path(module: LightningModule) -> Path | None:
    """The file being loaded, when a Trainer is loading it."""
    try:
        path = module.trainer.ckpt_path
    except RuntimeError:  # no Trainer attached: load_state_dict by hand
        return None
    return Path(path) if path else None


def _run_choices(path: Path | None) -> dict[str, str]:
    """The config groups of the run that wrote ``path`` (``<run dir>/checkpoints/x.ckpt`` or a
    requeue checkpoint in the run directory itself); empty when unknown."""
    if path is None:
        return {}
    for folder in (path.parent, path.parent.parent):
        choices = folder / CHOICES_FILE
        if choices.is_file():
            return {str(k): str(v) for k, v in (yaml.safe_load(choices.read_text()) or {}).items()}
    return {}
