"""Reliability diagrams: accuracy against confidence, bin by bin
(:func:`segedu.metrics.calibration.reliability_bins`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["reliability_diagram"]


def reliability_diagram(bins, ax=None, *, label: str | None = None, color: str = "C0",
                        show_gap: bool = True):
    """Draw a reliability diagram (Guo et al. 2017, Fig. 1): one bar per confidence bin, as high
    as the accuracy of its pixels, against the diagonal of a calibrated model.

    Args:
        bins: a :class:`~segedu.metrics.calibration.ReliabilityBins` (equal bins on [0, 1]).
        ax: matplotlib axes (a new figure by default).
        label: the legend's name for the bars; the ECE is added to it.
        color: the bars' colour.
        show_gap: outline, in red, the gap between each bar and the bin's mean confidence
            (above the bar: over-confident; inside it: under-confident).

    Returns:
        The axes. Empty bins get no bar.
    """
    count = np.asarray(bins.count, dtype=float)
    if count.ndim != 1 or count.size == 0:
        raise ValueError("bins must hold one count per bin: pass reliability_bins(...)")
    m = count.size
    edges = np.linspace(0, 1, m + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, 1 / m
    filled = count > 0
    accuracy = np.asarray(bins.accuracy, dtype=float)
    confidence = np.asarray(bins.confidence, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    name = f"{label}: " if label else ""
    ax.bar(centres[filled], accuracy[filled], width=width, color=color, edgecolor="white",
           alpha=0.85, label=f"{name}accuracy (ECE {bins.ece:.3f})")
    if show_gap:
        low = np.minimum(accuracy, confidence)[filled]
        gap = np.abs(confidence - accuracy)[filled]
        ax.bar(centres[filled], gap, bottom=low, width=width, fill=False, edgecolor="red",
               hatch="//", linewidth=0.8, label="gap to the mean confidence")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="calibrated")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
           aspect="equal")
    ax.legend(loc="upper left", fontsize=8)
    return ax
