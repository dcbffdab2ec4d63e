"""What the task modules share: config nodes as hyper-parameters, the fast path, the optimiser
with its LR rules, and the epoch tallies that a checkpoint carries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import torch
from lightning import LightningModule
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.optim import Optimizer

from src.models.compiled import CheckedCompile
from src.models.folding import inference_copy, inference_layout
from src.tasks.checkpoint_fit import check_checkpoint_fits
from src.tasks.optim import decay_groups, global_batch, scaled_lr, steps_per_epoch
from src.tasks.schedules import (
    LR_PLAN_KEY,
    LRPlan,
    LRSchedule,
    Multiplier,
    replanned_message,
    step_scheduler,
)
from src.tasks.steps import TRAIN_TALLY_KEY, EpochTally
from src.utils.config_types import Supplies

# ``model.optimizer``: a torch optimiser class, partially applied by the config (momentum,
# betas, ...); the module passes the parameter groups, the scaled LR and the weight decay
OptimizerNode = Annotated[Callable[..., Optimizer], Supplies("params", "lr", "weight_decay")]
# ``model.lr_schedule``: see src/tasks/schedules.py; the module passes the run's length
LRScheduleNode = Annotated[LRSchedule, Supplies("total_steps", "steps_per_epoch")]
# (name prefix of its parameter groups, the part, its LR as a multiple of the base LR)
LRPart = tuple[str, nn.Module, float]


def node_config(node: Callable[..., Any] | None) -> dict[str, Any] | None:
    """A built ``_partial_`` config node as the plain mapping it was built from, so the
    hyper-parameters of a checkpoint stay plain data (``weights_only`` loading)."""
    if node is None:
        return None
    if not isinstance(node, partial):
        raise TypeError(f"expected a config node with _partial_: true, got {node!r}")
    target = f"{node.func.__module__}.{node.func.__qualname__}"
    return {"_target_": target, "_partial_": True, **node.keywords}


class TaskModule(LightningModule, ABC):
    """The training machinery of a task; a subclass builds its network and tallies.

    Hyper-parameters read here: ``lr`` (for ``lr_reference_batch`` images: the optimiser gets
    ``lr * global_batch / lr_reference_batch``, the global batch counting every process and
    accumulation), ``weight_decay`` and ``decay_norm_and_bias`` (see
    :func:`src.tasks.optim.decay_groups`), ``channels_last``, ``compile`` (the whole network,
    kept only once its first batch matches eager: :mod:`src.models.compiled`) and
    ``fold_batchnorm`` (inference with frozen weights runs a copy with BN folded into the convs,
    in channels_last on CPU: :func:`src.models.folding.inference_copy`).
    """

    train_tally: EpochTally
    val_tally: EpochTally

    def __init__(self, optimizer: OptimizerNode, lr_schedule: LRScheduleNode) -> None:
        """A subclass's ``__init__`` calls this first, then :meth:`save_hyperparameters` with
        its built config nodes ignored, then :meth:`record_config_nodes` with those nodes."""
        super().__init__()
        self.optimizer_node, self.lr_schedule_node = optimizer, lr_schedule
        # model.compile=true: the network compiled once it has matched eager (configure_model)
        self.compiled_network: CheckedCompile | None = None
        # model.fold_batchnorm=true: the frozen-weights copy, built on the first inference batch
        self.folded_network: nn.Module | CheckedCompile | None = None
        # the LR schedule's length: this fit's, and the one of the checkpoint resumed from
        self.lr_plan: LRPlan | None = None
        self.restored_lr_plan: LRPlan | None = None

    def record_config_nodes(self, **nodes: Callable[..., Any] | None) -> None:
        """The built config ``nodes`` (optimizer, LR schedule, backbone, heads) among the
        hyper-parameters as the configs they were built from, so a checkpoint rebuilds them."""
        self.hparams.update({name: node_config(node) for name, node in nodes.items()})

    @property
    @abstractmethod
    def network(self) -> nn.Module:
        """The whole network ``forward`` runs."""

    @abstractmethod
    def lr_parts(self) -> list[LRPart]:
        """The parts that train, each with its LR multiple of the base LR."""

    def configure_model(self) -> None:
        if self.hparams.channels_last:
            self.network.to(memory_format=torch.channels_last)
        if self.hparams.compile and self.compiled_network is None:
            self.compiled_network = CheckedCompile(self.network)

    def forward(self, images: torch.Tensor) -> Any:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if not self.weights_frozen():
            return (self.compiled_network or self.network)(images)
        layout = inference_layout(images)
        if layout is not torch.preserve_format:
            images = images.contiguous(memory_format=layout)
        if self.folded_network is None:
            folded = inference_copy(self.network, images)
            self.folded_network = CheckedCompile(folded) if self.hparams.compile else folded
        return self.folded_network(images)

    def weights_frozen(self) -> bool:
        """Whether this forward is inference that may run folded: ``model.fold_batchnorm``
        is on, the module is in eval mode, and no fit is under way (validation during training
        sees weights that change every step). Outside a Trainer (scripts) weights are frozen."""
        if not self.hparams.fold_batchnorm or self.training:
            return False
        return self._trainer is None or self.trainer.state.fn != TrainerFn.FITTING

    def drop_folded_network(self) -> None:
        """Forget the folded copy: weights may have been loaded since it was built."""
        self.folded_network = None

    on_validation_start = on_test_start = on_predict_start = drop_folded_network

    def optimization(
        self, images_per_step: int, total_steps: int, epoch_steps: float
    ) -> tuple[Optimizer, Multiplier]:
        """The optimiser over :meth:`lr_parts` and the LR multiplier of each step."""
        lr = scaled_lr(self.hparams.lr, images_per_step, self.hparams.lr_reference_batch)
        decay = self.hparams.weight_decay
        groups = [
            group
            for prefix, part, multiple in self.lr_parts()
            for group in decay_groups(
                part, lr * multiple, decay, prefix, self.hparams.decay_norm_and_bias
            )
        ]
        optimizer = self.optimizer_node(params=groups, lr=lr, weight_decay=decay)
        multiplier = self.lr_schedule_node(total_steps=total_steps, steps_per_epoch=epoch_steps)
        return optimizer, multiplier

    def configure_optimizers(self) -> dict[str, Any]:
        trainer = self.trainer
        total_steps = int(trainer.estimated_stepping_batches)
        epoch_steps = steps_per_epoch(trainer)  # this and the above set up the training loader
        optimizer, multiplier = self.optimization(
            global_batch(trainer, trainer.train_dataloader.batch_size), total_steps, epoch_steps
        )
        self.lr_plan = LRPlan(total_steps, trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": step_scheduler(optimizer, multiplier)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TRAIN_TALLY_KEY] = self.train_tally.global_state()
        if self.lr_plan is not None:
            checkpoint[LR_PLAN_KEY] = self.lr_plan._asdict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_fits(self, checkpoint)  # one summary instead of Lightning's key lists
        if TRAIN_TALLY_KEY in checkpoint:
            self.train_tally.restore(checkpoint[TRAIN_TALLY_KEY], self.global_rank)
        if LR_PLAN_KEY in checkpoint:
            self.restored_lr_plan = LRPlan(**checkpoint[LR_PLAN_KEY])

    def on_train_start(self) -> None:
        """A resume that changes the run's length (``trainer.max_epochs``) re-plans the LR
        schedule over the new length, from the step reached: said once, with the jump."""
        restored, plan = self.restored_lr_plan, self.lr_plan
        if restored is None or plan is None or restored.total_steps == plan.total_steps:
            return
        rank_zero_warn(replanned_message(restored, plan, self.lr_schedulers(), self.global_step))

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.train_tally.start_batch(batch_idx)

    def on_validation_epoch_start(self) -> None:
        self.val_tally.reset()  # see EpochTally.reset
