"""The command line checked before Hydra runs it, for the mistakes Hydra reports in its own terms.

Hydra composes the config and creates the run directory before the application starts, so two
mistakes never reach the project's own checks: an override of a key that the config does not
have (Hydra's answer is to add it with ``+``, which for a typo is the wrong fix) and a
``paths.log_dir`` that cannot be written (chained tracebacks ending in ``PermissionError``, or
``OSError: No space left on device`` from Hydra's own config files); a
missing data root (:func:`src.data.sources.check_data_root`) or weights file
(:mod:`src.utils.input_paths`) is named here too, before the run directory exists.
:func:`check_command_line` composes the config as Hydra will and names both, with the fix.
Anything else that fails to compose is left to Hydra, which reports it moments later.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from src.data.sources import check_data_root
from src.runs.identity import register_resolvers
from src.utils.config_validation import ConfigError, accepted_keys, unknown_key_error
from src.utils.input_paths import check_input_paths
from src.utils.write_failures import MIN_FREE_TO_START, free_bytes, megabytes

LOG_DIR_KEY = "paths.log_dir"
# Hydra flags that print something instead of running the application.
_NOT_A_RUN = ("help", "hydra_help", "cfg", "info", "shell_completion", "experimental_rerun")


def check_command_line(argv: list[str], config_dir: Path, config_name: str) -> None:
    """Raise :class:`ConfigError` for an override of an unknown key, with the closest allowed
    one, and for a run directory that cannot be created, naming the setting that puts it there
    (``paths.log_dir``, ``RUN_DIR``, ``hydra.run.dir``).

    ``argv`` is the command line without the program, as Hydra will parse it; a command line
    that asks Hydra for something other than a run, or for another config, is not checked.
    """
    args = get_args_parser().parse_args(argv)
    if any(getattr(args, flag) for flag in _NOT_A_RUN) or args.config_path or args.config_dir:
        return
    overrides = args.overrides
    if args.multirun:  # each job's sweep values are composed by the launcher, job by job
        parsed = OverridesParser.create().parse_overrides(overrides)
        overrides = [o.input_line for o in parsed if not o.is_sweep_override()]
    register_resolvers()
    try:
        with (
            initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"),
            warnings.catch_warnings(),  # Hydra's own composition gives them, moments later
        ):
            warnings.simplefilter("ignore")
            cfg = compose(args.config_name or config_name, overrides, return_hydra_config=True)
    except HydraException as error:
        _raise_for_unknown_key(error, overrides)
        return  # not a mistake this module knows: Hydra reports it
    _check_writable(cfg, multirun=args.multirun)
    check_data_root(cfg)
    check_input_paths(cfg)


def _raise_for_unknown_key(error: HydraException, overrides: list[str]) -> None:
    """Turn Hydra's "Key 'x' is not in struct" for a plain override into a :class:`ConfigError`."""
    cause = error.__cause__
    parent = getattr(cause, "parent_node", None)
    if not isinstance(cause, ConfigAttributeError | ConfigKeyError) or not isinstance(
        parent, DictConfig
    ):
        return
    full_key = str(cause.full_key)  # the first missing key on the override's path
    parsed = OverridesParser.create().parse_overrides(overrides)
    given = [o.input_line for o in parsed if f"{o.key_or_group}.".startswith(f"{full_key}.")]
    if not given:
        return
    path, _, key = full_key.rpartition(".")
    node = OmegaConf.to_container(parent, resolve=False)
    allowed = accepted_keys(node)
    if key in allowed:  # an argument of the node's target that the config leaves to its default
        raise ConfigError(
            f"{given[-1]}: {full_key} is an argument of {node['_target_']} that the config does "
            f"not set, so it cannot be overridden; add it with +{given[-1]}"
        ) from error
    problem = unknown_key_error(path, key, allowed)
    add = "" if "_target_" in node else f" To add it as a new key, write +{given[-1]}."
    raise ConfigError(f"{given[-1]}: {problem}{add}") from error


def _check_writable(cfg: DictConfig, multirun: bool) -> None:
    """The run directory Hydra will create must lie in a folder this process can write."""
    try:
        run_dir = Path(cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir).absolute()
        log_dir = Path(OmegaConf.select(cfg, LOG_DIR_KEY)).absolute()
    except OmegaConfBaseException:
        return  # an interpolation that does not resolve: Hydra names it
    existing = next(folder for folder in (run_dir, *run_dir.parents) if folder.exists())
    if not existing.is_dir():
        reason = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"{existing} is not writable"
    elif free_bytes(existing) < MIN_FREE_TO_START:
        reason = f"the file system of {existing} has {megabytes(free_bytes(existing))} free"
    else:
        return
    if run_dir.is_relative_to(log_dir):
        setting, value = LOG_DIR_KEY, log_dir
    elif os.environ.get("RUN_DIR") and Path(os.environ["RUN_DIR"]).absolute() == run_dir:
        setting, value = "RUN_DIR", run_dir
    else:
        setting, value = "hydra.sweep.dir" if multirun else "hydra.run.dir", run_dir
    raise ConfigError(
        f"{setting}={value} cannot be written, so the run directory cannot be created there: "
        f"{reason}. Set {setting} to a folder you can write to."
    )
