"""Bounding boxes with captions on a matplotlib axis.

Coordinates: segedu boxes are ``XYXY`` in pixel *edges* (a mask covering columns ``x0..x1``
has the box ``x0, x1 + 1``, see :func:`segedu.data.make_target`), while ``imshow`` puts the
*centre* of pixel ``i`` at ``i``, its edges at ``i - 0.5`` and ``i + 0.5``. Rectangles are
therefore drawn from ``(x1 - 0.5, y1 - 0.5)`` with width ``x2 - x1`` and height ``y2 - y1``:
they hug the outer edges of the mask's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from .image import to_numpy_labels
from .palette import check_colors, instance_colors, palette

__all__ = ["draw_boxes", "box_caption"]

#: Weights of R, G, B in perceived brightness (ITU-R BT.601): dark text on light colours.
LUMINANCE = np.array([0.299, 0.587, 0.114])


def _numpy(values: Any) -> np.ndarray:
    """A tensor (``BoundingBoxes`` included), an array or a nested sequence -> numpy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().as_subclass(torch.Tensor).numpy()
    return np.asarray(values)


def box_caption(
    label: int | None, score: float | None, class_names: Sequence[str] | None
) -> str | None:
    """``"name 0.93"``: the class name (or the label number), then the score with two digits."""
    parts = []
    if label is not None:
        parts.append(class_names[label] if class_names is not None else str(label))
    if score is not None:
        parts.append(f"{score:.2f}")
    return " ".join(parts) or None


def draw_boxes(
    ax: Axes,
    boxes: Any,
    *,
    labels: Any = None,
    scores: Any = None,
    class_names: Sequence[str] | None = None,
    colors: Any = None,
) -> list[Rectangle]:
    """Draw ``XYXY`` ``boxes`` ``(N, 4)`` on ``ax``, each with a caption ``"name 0.93"``.

    ``labels`` ``(N,)`` name each box by ``class_names[label]`` (or the number); ``scores``
    ``(N,)`` add the confidence. ``colors``: one RGB colour per box ``(N, 3)``; by default the
    :func:`palette` colour of its label, or :func:`instance_colors` without labels.
    Returns the rectangles, in the order of ``boxes``.
    """
    # 1. everything as numpy, checked against the number of boxes
    array = _numpy(boxes).astype(np.float64)
    array = array.reshape(0, 4) if array.size == 0 else array
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) in XYXY, got {array.shape}")
    n = len(array)
    if labels is not None:
        raw = _numpy(labels)
        raw = raw.astype(np.int64) if raw.size == 0 else raw  # [] (no detections) is float
        labels = to_numpy_labels(raw, name="labels", ndim=1).astype(np.int64)
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for {n} boxes")
        if class_names is not None and n and labels.max() >= len(class_names):
            raise ValueError(
                f"label {labels.max()} has no entry in class_names ({len(class_names)} names)"
            )
    if scores is not None:
        scores = _numpy(scores).astype(np.float64)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
    # 2. a colour per box
    if colors is None:
        colors = (
            palette(int(labels.max()) + 1)[labels]
            if labels is not None and n
            else instance_colors(n)
        )
    colors = check_colors(colors, n)

    rectangles = []
    for i, (x1, y1, x2, y2) in enumerate(array):
        # 3. the rectangle, on the pixel edges (see the module docstring)
        rect = Rectangle(
            (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=colors[i], linewidth=2
        )
        ax.add_patch(rect)
        rectangles.append(rect)
        # 4. the caption above its top-left corner, on a box of the same colour
        caption = box_caption(
            None if labels is None else int(labels[i]),
            None if scores is None else float(scores[i]),
            class_names,
        )
        if caption is not None:
            ax.text(
                x1 - 0.5,
                y1 - 0.5,
                caption,
                color="black" if colors[i] @ LUMINANCE > 0.6 else "white",
                fontsize=8,
                verticalalignment="bottom",
                bbox={"facecolor": colors[i], "edgecolor": "none", "pad": 1, "alpha": 0.8},
            )
    return rectangles
