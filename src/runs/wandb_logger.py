"""A W&B logger that never kills or stalls a training because W&B cannot be reached.

Online W&B without an API key raises at the logger's first use, and with a key but no reachable
server ``wandb.init`` blocks for about 90 s before raising. Both are checked here, before any run
exists, in a second or two: when either fails the run is written offline instead, and one line
says why and how to upload it later with ``wandb sync``.

Only rank zero checks and logs: Lightning's ``WandbLogger`` creates its run on rank zero only, and
under DDP the other ranks re-run this factory with the same config.

A run directory keeps one W&B run: its id is recorded in ``run.yaml`` at the first start, and a
resumed, requeued or restarted run continues that W&B run (``resume="allow"``) instead of
starting a new one. Sweep runs keep the id their agent gives them.
"""

from __future__ import annotations

import configparser
import logging
import netrc
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import wandb
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from src.runs.identity import read_run_record, record_wandb_run_id

log = logging.getLogger(__name__)

ONLINE_MODES = ("online", "run")


def make_wandb_logger(
    save_dir: str,
    project: str,
    entity: str | None = None,
    group: str | None = None,
    name: str | None = None,
    tags: Sequence[str] = (),
    notes: str | None = None,
    log_model: bool | Literal["all"] = False,
    offline: bool = False,
    probe_timeout: float = 3.0,
) -> WandbLogger:
    """Lightning's ``WandbLogger``, switched to offline mode when online logging cannot work.

    ``save_dir`` is the (absolute) run directory: the run lands in ``save_dir/wandb/``.
    ``offline=True`` writes offline runs on purpose (``WANDB_MODE=offline`` does the same);
    unlike Lightning's own ``offline`` flag it keeps ``log_model``: the checkpoints are stored
    with the offline run and uploaded by ``wandb sync``. Inside a W&B sweep the agent's run id and
    project apply, whatever ``project`` says.
    """
    init: dict[str, object] = {
        "entity": entity,
        "group": group,
        "name": name,
        "tags": list(tags),
        "notes": notes,
    }
    if offline:
        init["mode"] = "offline"
    elif rank_zero_only.rank == 0 and (reason := offline_reason(probe_timeout)):
        runs = Path(save_dir).absolute() / "wandb"
        log.warning(
            "W&B: %s; logging offline to %s. Upload later with: wandb sync %s/offline-run-*",
            reason,
            runs,
            runs,
        )
        init["mode"] = "offline"
    if not (os.environ.get("WANDB_SWEEP_ID") or os.environ.get("WANDB_RUN_ID") or wandb.run):
        init |= {"id": run_dir_wandb_id(save_dir), "resume": "allow"}
    return WandbLogger(save_dir=save_dir, project=project, log_model=log_model, **init)


def run_dir_wandb_id(run_dir: str) -> str:
    """The W&B run id of this run directory: the recorded one, else a new one, recorded."""
    recorded = read_run_record(run_dir).get("wandb_run_id")
    if recorded:
        return recorded
    new_id = secrets.token_hex(4)  # W&B ids: lowercase letters and digits
    record_wandb_run_id(run_dir, new_id)
    return new_id


def offline_reason(timeout: float) -> str | None:
    """Why an online run could not start now, or None when it can (or is not asked for)."""
    if wandb.run is not None:  # a run made by the caller, e.g. a function-based sweep agent
        return None
    if (os.environ.get("WANDB_MODE") or global_setting("mode") or "online") not in ONLINE_MODES:
        return None  # offline or disabled by the user
    base_url = server_url()
    try:
        saved_key = netrc_api_key(base_url)  # where `wandb login` puts it
    except (netrc.NetrcParseError, OSError) as error:
        return (
            f"the saved API key for {base_url} is unusable ({error}); run `wandb login --relogin`"
        )
    env_key = os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE")
    if not (saved_key or env_key):
        return f"no API key for {base_url} (set WANDB_API_KEY or run `wandb login`)"
    if not reachable(base_url, timeout):
        return f"the W&B server {base_url} did not answer within {timeout:g} s"
    return None


def netrc_api_key(base_url: str) -> str | None:
    """The API key ``wandb login`` saved for ``base_url``'s host in the netrc file (``$NETRC``,
    else ``~/.netrc``), or None."""
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.is_file():
        return None
    credentials = netrc.netrc(path).authenticators(urlparse(base_url).hostname or "")
    return credentials[2] if credentials else None


def server_url() -> str:
    """The server W&B would use: ``WANDB_BASE_URL``, else the one ``wandb login --host`` saved,
    else wandb's default."""
    return (
        os.environ.get("WANDB_BASE_URL") or global_setting("base_url") or wandb.Settings().base_url
    )


def global_setting(key: str) -> str | None:
    """A value from W&B's global settings file (where ``wandb login --host`` writes)."""
    config_dir = os.environ.get("WANDB_CONFIG_DIR", Path.home() / ".config" / "wandb")
    settings = configparser.ConfigParser()
    try:
        settings.read(Path(config_dir) / "settings")
    except configparser.Error:  # malformed: treated as absent
        return None
    return settings.get("default", key, fallback=None)


def reachable(url: str, timeout: float) -> bool:
    """Whether ``url`` answers an HTTP request within ``timeout`` seconds (any status counts)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # refused, timed out, unresolvable, malformed URL
        return False
