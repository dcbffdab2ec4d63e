"""A PNG of the training curves, written at the end of fit whatever loggers are active."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lightning import Callback, LightningModule, Trainer  # noqa: E402
from lightning.pytorch.trainer.states import TrainerFn  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402


class MetricsPlot(Callback):
    """Collects epoch-level losses and ``val/*`` metrics and plots them, one panel per kind."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.history: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Runs after the epoch's metrics are computed and published (unlike the epoch-end hook)."""
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        for name, value in trainer.callback_metrics.items():
            if value.numel() == 1 and (name.startswith("val/") or name.endswith("loss_epoch")):
                self.history[name].append((trainer.current_epoch, float(value)))

    def state_dict(self) -> dict[str, object]:
        return {"history": dict(self.history)}

    def load_state_dict(self, state_dict: dict[str, object]) -> None:
        self.history = defaultdict(list, state_dict["history"])

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.history:
            return
        losses = {k: v for k, v in self.history.items() if "loss" in k}
        scores = {k: v for k, v in self.history.items() if "loss" not in k}
        panels = [group for group in (losses, scores) if group]
        figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
        for axis, group in zip(axes[0], panels, strict=True):
            for name, points in sorted(group.items()):
                epochs, values = zip(*points, strict=True)
                axis.plot(epochs, values, marker="o", label=name)
            axis.set_xlabel("epoch")
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(self.path, dpi=100)
        plt.close(figure)
