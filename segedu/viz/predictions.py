"""Label maps as colour images, and several models' predictions next to the ground truth.

- :func:`colorize`: an integer label map ``(H, W)`` -> an RGB image ``(H, W, 3)``, one colour per
  class (no photograph underneath, unlike :func:`~segedu.viz.overlay_semantic`);
- :func:`show_predictions`: one row per image, columns *image | ground truth | model 1 | model 2 |
  ...*, with a colour key of the classes below: the figure the book draws for every model zoo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .image import to_numpy_image, to_numpy_labels
from .palette import check_colors, palette

__all__ = ["colorize", "show_predictions"]


def colorize(
    labels: Any,
    *,
    colors: Any = None,
    num_classes: int | None = None,
    ignore_index: int | None = 255,
    ignore_color: Sequence[float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Integer label map ``(H, W)`` -> float RGB image ``(H, W, 3)`` in ``[0, 1]``.

    Class ``c`` gets ``colors[c]`` (default :func:`~segedu.viz.palette` with ``num_classes``
    colours, or as many as the largest label needs); ``ignore_index`` pixels get ``ignore_color``.
    """
    array = to_numpy_labels(labels, name="labels").astype(np.int64)
    # 1. which pixels carry a class, and the largest class that occurs
    labelled = array != ignore_index if ignore_index is not None else np.ones(array.shape, bool)
    if labelled.any() and array[labelled].min() < 0:
        raise ValueError(f"labels holds the negative label {array[labelled].min()}")
    largest = int(array[labelled].max()) if labelled.any() else -1
    if num_classes is not None and largest >= num_classes:
        raise ValueError(f"labels holds class {largest} but num_classes is {num_classes}")
    # 2. one colour per class
    if colors is None:
        colors = palette(max(num_classes or 0, largest + 1))
    colors = check_colors(colors, largest + 1)
    # 3. look the colours up; unlabelled pixels get the ignore colour
    out = np.empty((*array.shape, 3), dtype=np.float64)
    out[labelled] = colors[array[labelled]]
    out[~labelled] = check_colors([ignore_color], 1, name="ignore_color")[0]
    return out


def _stack(maps: Any, name: str, ndim: int) -> list[Any]:
    """A batch tensor/array (N, ...) or a sequence of N items -> a list of N items."""
    if hasattr(maps, "ndim") and maps.ndim == ndim + 1:
        return [maps[i] for i in range(maps.shape[0])]
    if isinstance(maps, Sequence) and not isinstance(maps, str):
        return list(maps)
    raise ValueError(f"{name} must be a batch of {ndim}-dimensional maps or a sequence of them")


def show_predictions(
    images: Any,
    truth: Any | None,
    predictions: Mapping[str, Any],
    *,
    colors: Any = None,
    class_names: Sequence[str] | None = None,
    size: float = 1.6,
    ignore_index: int | None = 255,
) -> Figure:
    """Images, their ground truth and each model's prediction, side by side.

    Args:
        images: ``(N, 3, H, W)`` (tensor or array) or a sequence of N images that
            :func:`~segedu.viz.to_numpy_image` takes.
        truth: ``(N, H, W)`` integer label maps (or a sequence of N), or None for no
            ground-truth column.
        predictions: ``{column title: (N, H, W) label maps}``, one entry per model, in the order
            of the columns.
        colors: ``(K, 3)`` class colours (default :func:`~segedu.viz.palette`).
        class_names: the K class names; when given, a colour key is drawn below the figure.
        size: width of one panel in inches.
        ignore_index: label drawn in black (not a class).

    Returns the ``matplotlib.figure.Figure``: one row per image, columns *image | ground truth
    | one per model*, titles on the first row.
    """
    if not isinstance(predictions, Mapping):
        raise TypeError("predictions must map a title to label maps, got "
                        f"{type(predictions).__name__}")
    rows = _stack(images, "images", 3)
    if not rows:
        raise ValueError("images is empty: nothing to show")
    # 1. the columns: (title, N label maps), ground truth first
    columns: list[tuple[str, list[Any]]] = []
    if truth is not None:
        columns.append(("ground truth", _stack(truth, "truth", 2)))
    columns += [(str(title), _stack(maps, f"predictions[{title!r}]", 2))
                for title, maps in predictions.items()]
    for title, maps in columns:
        if len(maps) != len(rows):
            raise ValueError(f"{title!r} has {len(maps)} label maps for {len(rows)} images")
    # 2. one colour per class, shared by every panel
    num_classes = len(class_names) if class_names is not None else None
    if colors is None:
        largest = -1
        for _, maps in columns:
            for labels in maps:
                labels = to_numpy_labels(labels)
                labels = labels[labels != ignore_index] if ignore_index is not None else labels
                largest = max(largest, int(labels.max(initial=-1)))
        colors = palette(max(num_classes or 0, largest + 1))
    colors = check_colors(colors, num_classes or 0)
    # 3. the grid of panels
    ncols = 1 + len(columns)
    height, width = to_numpy_image(rows[0]).shape[:2]
    fig, axes = plt.subplots(len(rows), ncols,
                             figsize=(size * ncols, size * len(rows) * height / width + 0.4),
                             squeeze=False)
    for i, image in enumerate(rows):
        axes[i, 0].imshow(to_numpy_image(image))
        for j, (_, maps) in enumerate(columns, start=1):
            axes[i, j].imshow(colorize(maps[i], colors=colors, num_classes=num_classes,
                                       ignore_index=ignore_index),
                              interpolation="nearest")
    for j, title in enumerate(["image"] + [title for title, _ in columns]):
        axes[0, j].set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    # 4. the colour key, below the panels
    if class_names is not None:
        handles = [Patch(facecolor=colors[c], edgecolor="black", linewidth=0.5, label=name)
                   for c, name in enumerate(class_names)]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.4 / fig.get_size_inches()[1] + 0.02, 1, 1))
    else:
        fig.tight_layout()
    return fig
