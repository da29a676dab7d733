"""Precision-recall curves from the COCO evaluation of
:func:`segedu.metrics.mean_average_precision`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .palette import palette

__all__ = ["plot_precision_recall"]


def plot_precision_recall(
    result: dict,
    iou_threshold: float = 0.5,
    ax=None,
    *,
    class_names: Sequence[str] | None = None,
    per_class: bool = True,
    area: int = 0,
):
    """Draw the interpolated precision-recall curves that COCO averages into AP.

    Args:
        result: the dict returned by ``mean_average_precision``: its ``precision`` array
            ``(T, R, K, A, M)`` holds, for each IoU threshold, the 101 recall levels, each class,
            area range and detection limit, the interpolated precision (-1: class without
            ground truth).
        iou_threshold: which threshold ``T`` to draw (one of ``result["iou_thresholds"]``).
        ax: matplotlib axes (a new figure by default).
        class_names: names indexed by the class labels of ``result["classes"]``.
        per_class: one curve per class (the legend gives each class's AP, the area under its
            curve, i.e. the mean of its 101 points) plus their mean, or only the mean.
        area: area range index (0 all, 1 small, 2 medium, 3 large).

    Returns:
        The axes.
    """
    if "precision" not in result:
        raise ValueError("result has no 'precision' array: pass the dict mean_average_precision "
                         "returns")
    precision = np.asarray(result["precision"])
    thresholds = np.asarray(result.get("iou_thresholds",
                                       np.linspace(0.5, 0.95, precision.shape[0])))
    where = np.nonzero(np.isclose(thresholds, iou_threshold))[0]
    if len(where) == 0:
        raise ValueError(f"iou_threshold={iou_threshold} is not one of the evaluated thresholds "
                         f"{thresholds.round(2).tolist()}")
    curves = precision[where[0], :, :, area, -1]  # (R, K) at the largest detection limit
    recall = np.linspace(0, 1, curves.shape[0])
    classes = [int(c) for c in np.asarray(result.get("classes", range(curves.shape[1])))]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    valid = [k for k in range(curves.shape[1]) if (curves[:, k] > -1).all()]
    colors = palette(max(classes, default=0) + 1)
    if per_class:
        for k in valid:
            name = class_names[classes[k]] if class_names is not None else f"class {classes[k]}"
            ax.step(recall, curves[:, k], where="post", color=colors[classes[k]],
                    lw=1.2, label=f"{name}: AP {curves[:, k].mean():.3f}")
    if valid:
        mean_curve = curves[:, valid].mean(axis=1)
        ax.step(recall, mean_curve, where="post", color="k", lw=2, ls="--",
                label=f"mean: AP {mean_curve.mean():.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.set_title(f"precision-recall at IoU {iou_threshold:g}")
    ax.legend(fontsize=7, loc="lower left")
    return ax
