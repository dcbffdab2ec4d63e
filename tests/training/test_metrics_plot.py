"""plots/metrics.png draws losses, rates and image counts on panels of their own, so that a
count (val/samples, in the hundreds) does not flatten the accuracy curves near zero."""

from __future__ import annotations

import matplotlib.pyplot as plt

from src.callbacks.metrics_plot import draw


def test_counts_rates_and_losses_are_drawn_on_separate_axes() -> None:
    history = {
        "train/loss_epoch": [(0, 2.1), (1, 1.7)],
        "val/loss": [(0, 2.0), (1, 1.8)],
        "val/acc1": [(0, 0.4), (1, 0.6)],
        "val/acc5": [(0, 0.8), (1, 0.9)],
        "val/samples": [(0, 96.0), (1, 96.0)],
        "val/skipped": [(0, 0.0), (1, 0.0)],
    }
    figure = draw(history)
    panels = {
        axis.get_title(): {line.get_label() for line in axis.get_lines()} for axis in figure.axes
    }
    plt.close(figure)
    assert panels == {
        "losses": {"train/loss_epoch", "val/loss"},
        "rates": {"val/acc1", "val/acc5"},
        "counts (images)": {"val/samples", "val/skipped"},
    }


def test_a_history_without_counts_draws_no_empty_panel() -> None:
    figure = draw({"val/acc1": [(0, 0.5)], "val/loss": [(0, 1.0)]})
    titles = [axis.get_title() for axis in figure.axes]
    plt.close(figure)
    assert titles == ["losses", "rates"]
