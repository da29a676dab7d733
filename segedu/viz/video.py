"""A video clip frame by frame, with its objects' masks: the figure of video object segmentation.

:func:`show_clip` draws one column per frame and one row per set of masks (the ground truth, then
each method's prediction), every object in the same colour in every frame and every row, so that
a reader follows an object through the clip, and sees where a tracker lost it or swapped two ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .image import to_numpy_image, to_numpy_labels
from .overlays import overlay_instances
from .palette import check_colors, instance_colors

__all__ = ["show_clip"]


def show_clip(
    video: Any,
    masks: Mapping[str, Any] | None = None,
    *,
    frames: Sequence[int] | None = None,
    captions: Mapping[str, Sequence[str]] | None = None,
    colors: Any = None,
    alpha: float = 0.5,
    size: float = 1.6,
) -> Figure:
    """Frames of a clip in columns, each row with one set of object masks over the frames.

    Args:
        video: ``(T, 3, H, W)`` (tensor, ``tv_tensors.Video`` or array) or a sequence of T images
            that :func:`~segedu.viz.to_numpy_image` takes.
        masks: ``{row title: (T, H, W) id maps}`` (0 background, object ids 1..K), e.g.
            ``{"ground truth": target["instances"], "SAM 2": predicted}``, one row each, in
            order; None draws the frames alone.
        frames: which frames to show (default all), e.g. ``range(0, T, 2)``.
        captions: ``{row title: one caption per shown frame}``, written under the panels of that
            row (e.g. each frame's J).
        colors: ``(K, 3)`` colours of objects 1..K (default :func:`~segedu.viz.instance_colors`),
            the same in every frame and row.
        alpha: opacity of the masks.
        size: width of one panel in inches.

    Returns the ``matplotlib.figure.Figure``: row titles on the left, frame numbers on top.
    """
    images = [video[t] for t in range(len(video))]
    if not images:
        raise ValueError("video is empty: nothing to show")
    frames = list(range(len(images))) if frames is None else [int(t) for t in frames]
    if not frames or not all(0 <= t < len(images) for t in frames):
        raise ValueError(f"frames must be indices of the clip's {len(images)} frames, got {frames}")
    rgb = [to_numpy_image(images[t]) for t in frames]
    # 1. the rows: (title, id maps of the shown frames); the frames alone when there are none
    rows: list[tuple[str, list[np.ndarray] | None]] = []
    for title, maps in (masks or {}).items():
        if len(maps) != len(images):
            raise ValueError(f"masks[{title!r}] has {len(maps)} frames for a clip of "
                             f"{len(images)}")
        ids = [to_numpy_labels(maps[t], name=f"masks[{title!r}]").astype(np.int64)
               for t in frames]
        if min(m.min() for m in ids) < 0:
            raise ValueError(f"masks[{title!r}] holds negative ids; 0 is background")
        rows.append((str(title), ids))
    if not rows:
        rows.append(("", None))
    for title, lines in (captions or {}).items():
        if title not in dict(rows):
            raise ValueError(f"captions[{title!r}] names no row; rows: {[t for t, _ in rows]}")
        if len(lines) != len(frames):
            raise ValueError(f"captions[{title!r}] has {len(lines)} captions for "
                             f"{len(frames)} frames")
    # 2. one colour per object id, shared by every frame and row
    largest = max((int(m.max()) for _, maps in rows if maps for m in maps), default=0)
    if largest:
        colors = instance_colors(largest) if colors is None else check_colors(colors, largest)
    # 3. the grid: a panel per (row, frame)
    height, width = rgb[0].shape[:2]
    fig, axes = plt.subplots(len(rows), len(frames), squeeze=False,
                             figsize=(size * len(frames), size * len(rows) * height / width + 0.3))
    for r, (title, maps) in enumerate(rows):
        for c, t in enumerate(frames):
            ax = axes[r, c]
            panel = rgb[c]
            if maps is not None and largest:
                # masks of objects 1..K in a fixed order, so object k always gets colors[k - 1]
                objects = maps[c][None] == np.arange(1, largest + 1)[:, None, None]
                panel = overlay_instances(panel, objects, colors=colors[:largest], alpha=alpha)
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=8)
            if c == 0 and title:
                ax.set_ylabel(title, fontsize=8)
            if captions and title in captions:
                ax.set_xlabel(captions[title][c], fontsize=7)
    fig.tight_layout()
    return fig
