r"""Non-maximum suppression of star-convex polygons, as StarDist does it.

Every pixel above the probability threshold proposes a polygon; the polygons of one object overlap
heavily, and NMS keeps one per object (Schmidt et al., MICCAI 2018,
https://arxiv.org/abs/1806.03535, Sec. 2): greedily, in order of **decreasing score**, a polygon
is kept unless an already *kept* polygon overlaps it by more than the threshold:

.. math:: \text{suppress } Q \text{ by kept } P \iff
          \frac{|P \cap Q|}{\min(|P|, |Q|) + 10^{-10}} > \tau .

Note the measure: **intersection over the area of the smaller polygon**, not intersection over
union. This is what ``stardist.nms.non_maximum_suppression_inds`` documents ("IoU(P1,P2) =
Ainter(P1,P2) / min(A(P1),A(P2))") and what its C++ ``c_non_max_suppression_inds`` computes
(``area_inter / fmin(areas[i] + 1e-10, areas[j] + 1e-10)``, suppress when ``> threshold``). It
suppresses a small polygon lying inside a large one even though their IoU is small. StarDist's
default threshold is ``tau = 0.4`` (``nms_thresh``).

Geometry, exact: StarDist clips polygons with the Clipper library, which works on **integer**
coordinates: its C++ code converts every vertex ``(row, col)`` to integers by truncation toward zero
before computing areas (shoelace formula) and intersections. ``snap=True`` (default) does the same;
``snap=False`` uses the float vertices. The area of the intersection of two polygons is computed
exactly by a *sweep over vertical slabs*: cut the plane at the x coordinate of every vertex and of
every crossing of two edges; inside a slab no edge starts, ends or crosses another, so the length
of the vertical cross-section that lies in both polygons is a linear function of x, and the slab's
area is its width times that length at the slab's middle (the midpoint rule is exact for linear
functions). "Inside" uses the non-zero winding rule, as StarDist's Clipper call does, so
self-intersecting (snapped) polygons are handled too.

Known differences from StarDist (tested, see the tests' docstrings):

- Clipper rounds the crossing points of two edges to integer coordinates, so its intersection
  areas differ from the exact ones by a fraction of a pixel; a pair whose overlap ratio lies
  within about ``1 / area`` of the threshold may be decided differently;
- among equal scores, the polygon earlier in the input comes first (a stable sort);
  ``stardist.nms.non_maximum_suppression`` orders ties in reverse input order;
- StarDist's dense ``non_maximum_suppression`` also drops candidates within ``b = 2`` pixels of
  the image border; that is the caller's choice here (see ``StarDist.predict_instances``).
"""

from __future__ import annotations

import numpy as np
import torch

from .polygons import _numpy, rays_to_polygons

__all__ = ["polygon_area", "polygon_intersection_area", "polygon_nms"]


def polygon_area(vertices: np.ndarray) -> np.ndarray:
    """Shoelace area ``|sum_k x_k y_{k+1} - x_{k+1} y_k| / 2`` of polygons ``(..., V, 2)`` -> ``(...,)``."""
    x, y = vertices[..., 0], vertices[..., 1]
    x_next, y_next = np.roll(x, -1, axis=-1), np.roll(y, -1, axis=-1)
    return 0.5 * np.abs(np.sum(x * y_next - x_next * y, axis=-1))


def polygon_intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact area of ``a ∩ b`` for one polygon ``a (V, 2)`` and polygons ``b (J, U, 2)`` -> ``(J,)``.

    Vertices are ``(x, y)`` pairs in order (either orientation); "inside" is the non-zero winding
    rule. Computed in float64 by the slab sweep described in the module docstring.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n_pairs = len(b)
    if n_pairs == 0:
        return np.zeros(0)
    # 1. the edges of both polygons, per pair: start p0, end p1 (J, E, 2), and whose edge it is
    a_start = np.broadcast_to(a[None], (n_pairs, *a.shape))
    p0 = np.concatenate([a_start, b], axis=1)
    p1 = np.concatenate([np.roll(a_start, -1, axis=1), np.roll(b, -1, axis=1)], axis=1)
    of_a = np.arange(p0.shape[1]) < len(a)  # (E,)

    # 2. the x coordinates where two edges cross (proper crossings of the two segments)
    d = p1 - p0  # (J, E, 2)
    denom = d[:, :, None, 0] * d[:, None, :, 1] - d[:, :, None, 1] * d[:, None, :, 0]  # (J, E, E)
    w = p0[:, None, :, :] - p0[:, :, None, :]  # (J, E, E, 2): start of edge f minus start of edge e
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (w[..., 0] * d[:, None, :, 1] - w[..., 1] * d[:, None, :, 0]) / denom  # along edge e
        t = (w[..., 0] * d[:, :, None, 1] - w[..., 1] * d[:, :, None, 0]) / denom  # along edge f
        crossing = (denom != 0) & (s > 0) & (s < 1) & (t > 0) & (t < 1)
        x_cross = np.where(crossing, p0[:, :, None, 0] + s * d[:, :, None, 0], np.inf).reshape(n_pairs, -1)
    n_cross = int(crossing.sum(axis=(1, 2)).max())
    x_cross = np.sort(x_cross, axis=1)[:, :n_cross]  # (J, C), padded with inf
    # a padding value becomes a repeated vertex x: a slab of width 0, which adds nothing
    x_cross = np.where(np.isfinite(x_cross), x_cross, p0[:, :1, 0])

    # 3. the slabs: between consecutive breakpoints (vertex and crossing x coordinates)
    breaks = np.sort(np.concatenate([p0[..., 0], x_cross], axis=1), axis=1)  # (J, B)
    width = np.diff(breaks, axis=1)  # (J, S)
    middle = 0.5 * (breaks[:, 1:] + breaks[:, :-1])  # (J, S)

    # 4. at each slab's middle: which edges cut the vertical line, at which y, going which way
    x0, x1 = p0[:, None, :, 0], p1[:, None, :, 0]  # (J, 1, E)
    m = middle[:, :, None]  # (J, S, 1)
    cuts = (np.minimum(x0, x1) < m) & (m < np.maximum(x0, x1))  # (J, S, E); vertical edges never
    with np.errstate(divide="ignore", invalid="ignore"):
        y = p0[:, None, :, 1] + (m - x0) * (p1[:, None, :, 1] - p0[:, None, :, 1]) / (x1 - x0)
    y = np.where(cuts, y, np.inf)
    direction = np.where(cuts, np.sign(x1 - x0), 0.0)  # +1 / -1: contribution to the winding number

    # 5. walk up the line: winding numbers of a and b between consecutive cuts
    order = np.argsort(y, axis=2)
    y = np.take_along_axis(y, order, axis=2)
    direction = np.take_along_axis(direction, order, axis=2)
    owner_a = of_a[order]
    winding_a = np.cumsum(np.where(owner_a, direction, 0.0), axis=2)
    winding_b = np.cumsum(np.where(owner_a, 0.0, direction), axis=2)
    inside_both = (winding_a[..., :-1] != 0) & (winding_b[..., :-1] != 0)  # gap above cut e
    with np.errstate(invalid="ignore"):
        gap = np.diff(y, axis=2)  # inf - inf = nan only where nothing is inside
    length = np.where(inside_both, gap, 0.0).sum(axis=2)  # (J, S): cross-section in both

    # 6. area = sum over slabs of width * cross-section at the middle (slabs of width 0, whose
    #    middle sits on a vertex, add nothing; skip them rather than multiply 0 by their cuts)
    return np.where(width > 0, width * length, 0.0).sum(axis=1)


def polygon_nms(
    dist: torch.Tensor | np.ndarray,
    points: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    iou_threshold: float = 0.4,
    *,
    snap: bool = True,
    batch_size: int = 64,
) -> torch.Tensor:
    """Greedy NMS of star polygons by intersection over the smaller area (see module docstring).

    Args:
        dist: ``(K, R)`` ray lengths of ``K`` candidate polygons.
        points: ``(K, 2)`` their centres ``(row, col)``.
        scores: ``(K,)`` their scores (object probabilities).
        iou_threshold: ``tau``: a polygon is suppressed when a kept one covers more than this
            fraction of the smaller of the two (``stardist``'s ``nms_thresh``, default 0.4).
        snap: truncate the vertices to integers as StarDist's C++ code does (default).
        batch_size: how many overlap areas to compute in one vectorised call.

    Returns:
        ``keep``: int64 indices into the inputs of the kept polygons, by decreasing score.
    """
    dist, points, scores = _numpy(dist, "dist"), _numpy(points, "points"), _numpy(scores, "scores")
    if dist.ndim != 2 or dist.shape[1] < 3:
        raise ValueError(f"dist must be (K, R) with R >= 3, got shape {tuple(dist.shape)}")
    n = len(dist)
    if points.shape != (n, 2) or scores.shape != (n,):
        raise ValueError(
            f"points must be ({n}, 2) and scores ({n},), got {tuple(points.shape)} and {tuple(scores.shape)}"
        )
    if n == 0:
        return torch.zeros(0, dtype=torch.int64)
    # 1. candidates by decreasing score (stable: ties keep the input order)
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    # 2. their vertices as (x, y) = (col, row), snapped to integers like Clipper's input, areas
    coords = rays_to_polygons(dist[order], points[order]).numpy()  # (K, 2, R) rows, columns
    vertices = coords[:, ::-1, :].transpose(0, 2, 1).astype(np.float64)  # (K, R, 2) as (x, y)
    if snap:
        vertices = np.trunc(vertices)  # C++ float -> integer conversion truncates toward zero
    areas = polygon_area(vertices)  # (K,)
    low, high = vertices.min(axis=1), vertices.max(axis=1)  # (K, 2) bounding boxes
    # 3. greedy suppression: each kept polygon suppresses the later ones it overlaps too much
    suppressed = np.zeros(n, bool)
    for i in range(n):
        if suppressed[i]:
            continue
        later = np.arange(i + 1, n)
        later = later[~suppressed[later]]
        # only polygons whose bounding boxes meet can overlap (a shortcut, as StarDist's use_bbox)
        meets = np.all((low[later] <= high[i]) & (low[i] <= high[later]), axis=1)
        later = later[meets]
        for start in range(0, len(later), batch_size):
            js = later[start : start + batch_size]
            overlap = polygon_intersection_area(vertices[i], vertices[js])
            ratio = overlap / np.minimum(areas[i] + 1e-10, areas[js] + 1e-10)
            suppressed[js[ratio > iou_threshold]] = True
    return torch.from_numpy(order[~suppressed].astype(np.int64))
