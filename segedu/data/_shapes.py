"""Rasterising and shading the scenes' things (circles and convex polygons), shared by
:mod:`.synthetic_scenes` and :mod:`.synthetic_video`; private to :mod:`segedu.data`.

A thing is any object with the fields of :class:`.synthetic_scenes.SceneObject`: ``center``
``(x, y)``, ``radius``, ``vertices`` (``None`` for a circle, else ``(K, 2)`` rows ``(x, y)``) and
``color``. Pixel coordinates: x to the right, y down; a pixel belongs to a shape when its centre
``(col + 0.5, row + 0.5)`` lies inside (or on the edge of) the shape, an exact test on doubles,
so the masks are the same on every CPU.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["_pixel_centres", "_window", "_rasterise", "_paint", "_shade_things"]


def _pixel_centres(rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(x, y)`` of the pixels of a window, shapes ``(1, w)`` and ``(h, 1)``."""
    xs = np.arange(cols.start, cols.stop, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None] + 0.5
    return xs, ys


def _window(xmin: float, ymin: float, xmax: float, ymax: float, h: int, w: int):
    """The pixel window ``(rows, cols)`` covering a box, clipped to the image (empty when the box
    lies outside it)."""
    y0, x0 = min(max(0, math.floor(ymin)), h), min(max(0, math.floor(xmin)), w)
    rows = slice(y0, max(y0, min(h, math.ceil(ymax) + 1)))
    cols = slice(x0, max(x0, min(w, math.ceil(xmax) + 1)))
    return rows, cols


def _rasterise(obj: Any, h: int, w: int) -> tuple[slice, slice, np.ndarray]:
    """The full (unoccluded) shape as a window ``(rows, cols)`` and a bool mask over it."""
    if obj.vertices is None:
        # circle: pixel centres within the radius
        cx, cy = obj.center
        r = obj.radius
        rows, cols = _window(cx - r, cy - r, cx + r, cy + r, h, w)
        xs, ys = _pixel_centres(rows, cols)
        return rows, cols, (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    # convex polygon: pixel centres on the inner side of every edge
    v = obj.vertices
    rows, cols = _window(*v.min(axis=0), *v.max(axis=0), h, w)
    xs, ys = _pixel_centres(rows, cols)
    # edges k -> k + 1 (the last back to the first), all at once: (K, 1, 1) each
    x0, y0 = v[:, 0, None, None], v[:, 1, None, None]
    nxt = np.r_[1 : len(v), 0]
    x1, y1 = x0[nxt], y0[nxt]
    # the sign of the polygon's area tells which side of each edge is "inside"
    orientation = np.sign(np.sum(x0 * y1 - x1 * y0))
    cross = (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)  # (K, h, w), > 0 left of the edge
    inside = np.all(cross * orientation >= 0, axis=0)
    return rows, cols, inside


def _paint(shapes: list[tuple[slice, slice, np.ndarray]], order: list[int], h: int,
           w: int) -> np.ndarray:
    """Paint shapes ``order[0], order[1], ...`` with ids 1, 2, ...; later ones cover
    earlier ones."""
    ids = np.zeros((h, w), dtype=np.int64)
    for new_id, k in enumerate(order, start=1):
        rows, cols, inside = shapes[k]
        np.copyto(ids[rows, cols], new_id, where=inside)
    return ids


def _shade_things(
    image: np.ndarray,
    ids: np.ndarray,
    things: list[tuple[int, Any, tuple[slice, slice, np.ndarray]]],
    light: float,
) -> None:
    """Paint each visible thing in its colour, lit from the direction ``light`` (radians), in
    place.

    ``image`` is ``(3, H, W)``; ``things`` lists ``(instance id in ids, thing, shape window)``;
    ``ids`` ``(H, W)`` tells which pixels of each window the thing shows.
    """
    lx, ly = np.cos(light), np.sin(light)
    for instance_id, obj, (rows, cols, _) in things:
        visible = ids[rows, cols] == instance_id  # the shape's window, visible pixels only
        xs, ys = _pixel_centres(rows, cols)
        # brightness ramps across the shape along the light direction
        shade = 1 + 0.22 * ((xs - obj.center[0]) * lx + (ys - obj.center[1]) * ly) / obj.radius
        colour = np.asarray(obj.color, dtype=np.float32)[:, None, None] * shade.astype(np.float32)
        np.copyto(image[:, rows, cols], colour, where=visible)
