"""Where a training run's wall time goes, epoch by epoch: waiting for data, the training step,
validation, checkpoint writes, and the rest; and a warning when the wait for data bounds the run.

The account is a stopwatch that charges every second between two hooks to the activity under
way, so an epoch's parts add up to its wall time exactly:

- ``step``: from ``on_train_batch_start`` to ``on_train_batch_end`` (forward, backward, the
  optimiser step);
- ``data_wait``: between one step and the next, which is where the loader yields the next batch
  and Lightning moves it to the device (with ``num_workers: 0`` the loading itself), together
  with the light per-step hooks and logging;
- ``val``: from ``on_validation_start`` to ``on_validation_end``, its own data loading included;
- ``checkpoint``: every ``Trainer.save_checkpoint`` (gathering the state and the write), the one
  call that brackets a whole save: ``ModelCheckpoint``, ``last.ckpt`` and the NaN guard all save
  through it, while the checkpoint hooks run before the write;
- ``other``: the rest (the epoch-end hooks and logging; at the start of the fit, restoring a
  checkpoint and making the first loader iterator).

An epoch's account runs on until the next epoch starts (or training ends), so it holds the
checkpoints written at the epoch's end, which the checkpoint callbacks save after every other
epoch-end hook; the first epoch's also holds the start of the fit (restoring a checkpoint, the
sanity check). It is logged then, as a row of its own at the step of the epoch's other epoch-end
figures (a resume keeps it, as it keeps them), and put in ``trainer.callback_metrics`` for the
final table.

On a GPU the clock waits for the device at each change of activity, so queued kernels are
charged to the step that launched them. Figures are this process's (rank 0's in the logs). The
callback comes first in ``configs/callbacks/default.yaml``: the other callbacks' batch-start work
then counts in the step, their batch-end work in the wait that follows (a checkpoint they save,
as checkpoint).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

log = logging.getLogger(__name__)

DATA_WAIT, STEP, VAL, CHECKPOINT, OTHER = "data_wait", "step", "val", "checkpoint", "other"
ACTIVITIES = (DATA_WAIT, STEP, VAL, CHECKPOINT, OTHER)
METRIC_PREFIX = "time/"
EPOCH = "epoch"  # the epoch's wall time: time/epoch_s
DATA_WAIT_SHARE = "data_wait_share"  # time/data_wait_share: data_wait_s / epoch_s


def metric_name(part: str) -> str:
    """The logged name of an account entry: ``time/<activity>_s``, ``time/data_wait_share``."""
    return f"{METRIC_PREFIX}{part}" if part == DATA_WAIT_SHARE else f"{METRIC_PREFIX}{part}_s"


class Stopwatch:
    """Charges the time between two calls to the activity that was under way.

    ``switch`` changes the activity at the bottom (data wait, step, other); ``enter`` and
    ``leave`` bracket one that interrupts it (validation, a checkpoint save), nested or not.
    ``sync`` runs before each reading (waiting for the GPU).
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.sync = sync
        self.seconds = dict.fromkeys(ACTIVITIES, 0.0)
        self._under_way = [OTHER]
        self._since = time.perf_counter()

    def switch(self, activity: str) -> None:
        self._charge()
        self._under_way[-1] = activity

    def enter(self, activity: str) -> None:
        self._charge()
        self._under_way.append(activity)

    def leave(self) -> None:
        self._charge()
        if len(self._under_way) > 1:
            self._under_way.pop()

    def take(self) -> dict[str, float]:
        """The seconds charged since the last ``take``, per activity; the clock runs on."""
        self._charge()
        seconds, self.seconds = self.seconds, dict.fromkeys(ACTIVITIES, 0.0)
        return seconds

    def _charge(self) -> None:
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        self.seconds[self._under_way[-1]] += now - self._since
        self._since = now


class TimeAccount(Callback):
    """Logs ``time/{data_wait,step,val,checkpoint,other,epoch}_s`` and ``time/data_wait_share``
    once per training epoch (to every logger: ``metrics.csv``, TensorBoard, W&B; and to the final
    table), and warns once per run when the data wait takes more than ``data_wait_warn_share``
    of an epoch."""

    def __init__(self, data_wait_warn_share: float) -> None:
        if not 0 < data_wait_warn_share <= 1:
            raise ValueError(
                f"callbacks.time_account.data_wait_warn_share={data_wait_warn_share} must be a "
                "share of the epoch's wall time, above 0 and at most 1"
            )
        self.data_wait_warn_share = data_wait_warn_share
        self._clock: Stopwatch | None = None
        self._ending: tuple[int, int] | None = None  # (epoch, step) of the epoch to log
        self._warned = False

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        device = trainer.strategy.root_device
        sync = functools.partial(torch.cuda.synchronize, device) if device.type == "cuda" else None
        self._clock = Stopwatch(sync)
        self._ending = None
        trainer.save_checkpoint = self._timed_save(trainer.save_checkpoint)  # this trainer's

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._stop(trainer)

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._stop(trainer)

    def _stop(self, trainer: Trainer) -> None:
        self._clock = None
        vars(trainer).pop("save_checkpoint", None)  # back to the class's method

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._close_epoch(trainer)
        self._switch(DATA_WAIT)  # the epoch's first batch is fetched next

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._close_epoch(trainer)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._switch(STEP)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._switch(DATA_WAIT)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._clock is not None and trainer.state.fn == TrainerFn.FITTING:
            self._clock.enter(VAL)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._clock is not None and trainer.state.fn == TrainerFn.FITTING:
            self._clock.leave()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._clock is not None:
            self._clock.switch(OTHER)  # the epoch-end hooks and checkpoints come next
            # where Lightning logs the epoch's other epoch-end figures
            self._ending = (trainer.current_epoch, max(trainer.global_step - 1, 0))

    def _close_epoch(self, trainer: Trainer) -> None:
        """Log the account of the epoch that ended, if one did since the last call."""
        if self._clock is None or self._ending is None:
            return
        (epoch, step), self._ending = self._ending, None
        account = self._clock.take()
        account[EPOCH] = sum(account.values())
        account[DATA_WAIT_SHARE] = account[DATA_WAIT] / account[EPOCH] if account[EPOCH] else 0.0
        metrics = {metric_name(part): value for part, value in account.items()}
        for logger in trainer.loggers:
            logger.log_metrics({**metrics, "epoch": epoch}, step=step)
            logger.save()
        trainer.callback_metrics.update({name: torch.tensor(v) for name, v in metrics.items()})
        if account[DATA_WAIT_SHARE] > self.data_wait_warn_share and not self._warned:
            self._warned = True
            if trainer.is_global_zero:
                log.warning(self._data_bound_message(epoch, trainer, account))

    def _switch(self, activity: str) -> None:
        if self._clock is not None:
            self._clock.switch(activity)

    def _timed_save(self, save: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(save)
        def timed_save(*args: Any, **kwargs: Any) -> None:
            clock = self._clock
            if clock is None:
                return save(*args, **kwargs)
            clock.enter(CHECKPOINT)
            try:
                return save(*args, **kwargs)
            finally:
                clock.leave()

        return timed_save

    def _data_bound_message(self, epoch: int, trainer: Trainer, account: dict[str, float]) -> str:
        loader = trainer.train_dataloader
        workers = getattr(loader, "num_workers", None)
        now = f" (now {workers})" if workers is not None else ""
        return (
            f"Epoch {epoch} waited {account[DATA_WAIT]:.1f} s for training "
            f"batches, {account[DATA_WAIT_SHARE]:.0%} of its {account[EPOCH]:.1f} s (the step "
            f"took {account[STEP]:.1f} s): the run is bound by its data loading, above "
            f"callbacks.time_account.data_wait_warn_share={self.data_wait_warn_share}. Feed it "
            f"faster: more loader processes (data.num_workers{now}), shards "
            "(data.format=shards, python -m scripts.make_shards), or data.root on a faster disk"
        )
