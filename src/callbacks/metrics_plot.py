"""A PNG of the training curves, written at the end of fit whatever loggers are active."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lightning import Callback, LightningModule, Trainer  # noqa: E402
from lightning.pytorch.trainer.states import TrainerFn  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Names of figures that count images (``val/samples``, ``val/skipped``), not rates
COUNT_SUFFIXES = ("/samples", "/skipped")
PANELS = ("losses", "rates", "counts (images)")  # left to right


class MetricsPlot(Callback):
    """Collects epoch-level losses and ``val/*`` metrics and plots them, one panel per kind
    (:func:`draw`).

    A training epoch's figures (``*loss_epoch``) are computed after its validation, so they are
    taken at the start of the next epoch (and at the end of fit for the last one), each under
    its own epoch. The history is checkpointed, so a resumed run plots the whole run.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.history: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def _record(self, trainer: Trainer, epoch: int, wanted: Callable[[str], bool]) -> None:
        for name, value in trainer.callback_metrics.items():
            points = self.history[name] if wanted(name) and value.numel() == 1 else None
            if points is not None and (not points or points[-1][0] != epoch):
                points.append((epoch, float(value)))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Runs after the epoch's metrics are computed and published (unlike the epoch-end hook)."""
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        self._record(trainer, trainer.current_epoch, lambda name: name.startswith("val/"))

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch > 0:
            self._record(trainer, trainer.current_epoch - 1, _is_epoch_loss)

    def state_dict(self) -> dict[str, object]:
        return {"history": dict(self.history)}

    def load_state_dict(self, state_dict: dict[str, object]) -> None:
        self.history = defaultdict(list, state_dict["history"])

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record(trainer, trainer.current_epoch - 1, _is_epoch_loss)  # the last epoch's
        if not self.history:
            return
        figure = draw(self.history)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(self.path, dpi=100)
        plt.close(figure)


def draw(history: Mapping[str, list[tuple[int, float]]]) -> Figure:
    """One panel per kind of figure, each on its own scale: losses, rates (accuracies, IoUs,
    in [0, 1]) and counts (images per validation, in the hundreds or more)."""
    panels = {title: group for title, group in _panels(history).items() if group}
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for axis, (title, group) in zip(axes[0], panels.items(), strict=True):
        for name, points in sorted(group.items()):
            epochs, values = zip(*points, strict=True)
            axis.plot(epochs, values, marker="o", label=name)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


def _panels(history: Mapping[str, list[tuple[int, float]]]) -> dict[str, dict[str, list]]:
    """``history`` split into losses, rates and counts, under their panels' titles."""
    panels: dict[str, dict[str, list]] = {title: {} for title in PANELS}
    for name, points in history.items():
        panels[_panel_of(name)][name] = points
    return panels


def _panel_of(name: str) -> str:
    if "loss" in name:
        return "losses"
    return "counts (images)" if name.endswith(COUNT_SUFFIXES) else "rates"


def _is_epoch_loss(name: str) -> bool:
    return name.endswith("loss_epoch")
