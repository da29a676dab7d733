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

Fast path (``polygon_nms(..., method="fast")``, the default): the same greedy loop, but most
pairs are decided by bounds on their overlap that cost a few numbers per edge (the common bounding
box, the parts of each polygon inside it, cut into cells), valid for *simple* polygons (star-shaped
about their centre, or checked edge against edge when snapping made them zig-zag); only the pairs
whose bounds straddle the threshold get the exact slab sweep, and those wait until the loop needs
their answer, to be swept together. The kept polygons are those of ``method="readable"`` (tested on
random and edge cases).

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

from ._checks import _numpy
from .polygons import rays_to_polygons

__all__ = ["polygon_area", "polygon_intersection_area", "polygon_nms", "area_in_boxes",
           "star_shaped", "simple_polygons"]


def polygon_area(vertices: np.ndarray) -> np.ndarray:
    """Shoelace area ``|sum_k x_k y_{k+1} - x_{k+1} y_k| / 2`` of polygons ``(..., V, 2)`` ->
    ``(...,)``."""
    x, y = vertices[..., 0], vertices[..., 1]
    x_next, y_next = np.roll(x, -1, axis=-1), np.roll(y, -1, axis=-1)
    return 0.5 * np.abs(np.sum(x * y_next - x_next * y, axis=-1))


def polygon_intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact area of ``a ∩ b`` for one polygon ``a (V, 2)`` and polygons ``b (J, U, 2)`` ->
    ``(J,)``; or pair by pair, ``a (J, V, 2)`` with ``b (J, U, 2)``.

    Vertices are ``(x, y)`` pairs in order (either orientation); "inside" is the non-zero winding
    rule. Computed in float64 by the slab sweep described in the module docstring.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n_pairs = len(b)
    if n_pairs == 0:
        return np.zeros(0)
    # 1. the edges of both polygons, per pair: start p0, end p1 (J, E, 2), and whose edge it is
    a_start = np.broadcast_to(a if a.ndim == 3 else a[None], (n_pairs, *a.shape[-2:]))
    p0 = np.concatenate([a_start, b], axis=1)
    p1 = np.concatenate([np.roll(a_start, -1, axis=1), np.roll(b, -1, axis=1)], axis=1)
    of_a = np.arange(p0.shape[1]) < a.shape[-2]  # (E,)

    # 2. the x coordinates where two edges cross (proper crossings of the two segments)
    d = p1 - p0  # (J, E, 2)
    denom = d[:, :, None, 0] * d[:, None, :, 1] - d[:, :, None, 1] * d[:, None, :, 0]  # (J, E, E)
    w = p0[:, None, :, :] - p0[:, :, None, :]  # (J, E, E, 2): start of edge f minus start of edge e
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (w[..., 0] * d[:, None, :, 1] - w[..., 1] * d[:, None, :, 0]) / denom  # along edge e
        t = (w[..., 0] * d[:, :, None, 1] - w[..., 1] * d[:, :, None, 0]) / denom  # along edge f
        crossing = (denom != 0) & (s > 0) & (s < 1) & (t > 0) & (t < 1)
        x_cross = np.where(crossing, p0[:, :, None, 0] + s * d[:, :, None, 0], np.inf)
        x_cross = x_cross.reshape(n_pairs, -1)
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
    #    middle sits on a vertex, add nothing; skip them rather than multiply 0 by their cuts).
    #    Added one slab after the other (a cumulative sum): the padding slabs of width 0 then
    #    change nothing, and a pair's area is the same bits whatever the other pairs of the call.
    return np.cumsum(np.where(width > 0, width * length, 0.0), axis=1)[:, -1]


def polygon_nms(
    dist: torch.Tensor | np.ndarray,
    points: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    iou_threshold: float = 0.4,
    *,
    snap: bool = True,
    batch_size: int = 64,
    method: str = "fast",
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
        method: ``"fast"`` (default) decides most pairs from cheap bounds on the overlap and
            computes the exact area of the others only (:func:`_suppress_fast`); ``"readable"``
            computes the exact area of every pair whose bounding boxes meet
            (:func:`_suppress_readable`). Both keep the same polygons.

    Returns:
        ``keep``: int64 indices into the inputs of the kept polygons, by decreasing score.
    """
    dist, points, scores = _numpy(dist, "dist"), _numpy(points, "points"), _numpy(scores, "scores")
    if dist.ndim != 2 or dist.shape[1] < 3:
        raise ValueError(f"dist must be (K, R) with R >= 3, got shape {tuple(dist.shape)}")
    n = len(dist)
    if points.shape != (n, 2) or scores.shape != (n,):
        raise ValueError(
            f"points must be ({n}, 2) and scores ({n},), got {tuple(points.shape)} and "
            f"{tuple(scores.shape)}"
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
    # 3. greedy suppression: each kept polygon suppresses the later ones it overlaps too much
    if method == "fast":
        centers = points[order][:, ::-1].astype(np.float64)  # (x, y)
        suppressed = _suppress_fast(vertices, areas, centers, iou_threshold, batch_size)
    elif method == "readable":
        suppressed = _suppress_readable(vertices, areas, iou_threshold, batch_size)
    else:
        raise ValueError(f"method must be 'fast' or 'readable', got {method!r}")
    return torch.from_numpy(order[~suppressed].astype(np.int64))


def _suppress_readable(vertices: np.ndarray, areas: np.ndarray, iou_threshold: float,
                       batch_size: int) -> np.ndarray:
    """Greedy NMS of polygons ``(K, V, 2)`` sorted by decreasing score: ``(K,)`` bool,
    suppressed."""
    n = len(vertices)
    low, high = vertices.min(axis=1), vertices.max(axis=1)  # (K, 2) bounding boxes
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
            suppressed[js[_overlaps_too_much(vertices, areas, i, js, iou_threshold)]] = True
    return suppressed


def _overlaps_too_much(vertices: np.ndarray, areas: np.ndarray, i: int | np.ndarray,
                       js: np.ndarray, iou_threshold: float) -> np.ndarray:
    """``(J,)`` bool: polygons ``i`` (one, or one per pair) and ``js`` overlap by more than
    ``iou_threshold`` of the smaller one's area (StarDist's criterion), exactly."""
    overlap = polygon_intersection_area(vertices[i], vertices[js])
    ratio = overlap / np.minimum(areas[i] + 1e-10, areas[js] + 1e-10)
    return ratio > iou_threshold


def _suppress_fast(vertices: np.ndarray, areas: np.ndarray, centers: np.ndarray,
                   iou_threshold: float, batch_size: int) -> np.ndarray:
    """:func:`_suppress_readable`, with most pairs decided without their exact overlap.

    For a kept polygon ``A`` and a later one ``B`` whose boxes meet in the box ``R``:

    - ``|A ∩ B| <= |R|`` for any polygons; and for a simple polygon (:func:`star_shaped`)
      ``|A ∩ B| <= |A ∩ R|`` (the other may be any polygon); when both are simple,
    - ``|A ∩ B| <= min(|A ∩ R|, |B ∩ R|)`` and ``|A ∩ B| >= |A ∩ R| + |B ∩ R| - |R|`` (both lie in
      ``R``), areas computed edge by edge (:func:`area_in_boxes`, 32 numbers a pair instead of the
      thousands of the exact sweep), first in ``R`` whole, then in 4 x 4 cells of it.

    A bound decides a pair when it clears the threshold by a millionth of the area (far more than
    the rounding of either computation). The other pairs get the exact overlap of the readable
    version (the same function, the same bits), but not at once: they wait until the loop reaches
    their later polygon (only then does it matter whether it was suppressed), and all the pairs
    waiting by then are computed together, in a few vectorised calls instead of one per kept
    polygon. So the kept polygons are the readable version's.
    """
    n = len(vertices)
    low, high = vertices.min(axis=1), vertices.max(axis=1)  # (K, 2) bounding boxes
    simple = star_shaped(vertices, centers)
    simple[~simple] = simple_polygons(vertices[~simple])
    edges = _edges(vertices)
    suppressed = np.zeros(n, bool)
    waiting = np.zeros(n, bool)  # a pair (kept, this one) waits for its exact overlap
    pairs: list[tuple[int, np.ndarray]] = []
    for i in range(n):
        if suppressed[i]:
            continue
        if waiting[i]:  # settle every waiting pair before deciding whether i is kept
            _settle(pairs, vertices, areas, iou_threshold, batch_size, suppressed)
            pairs, waiting[:] = [], False
            if suppressed[i]:
                continue
        later = np.flatnonzero(~suppressed[i + 1:]) + (i + 1)
        later = later[np.all((low[later] <= high[i]) & (low[i] <= high[later]), axis=1)]
        if later.size == 0:
            continue
        # the threshold on the overlap, and the margin a bound must clear it by
        limit = iou_threshold * np.minimum(areas[i] + 1e-10, areas[later] + 1e-10)
        margin = 1e-6 * np.minimum(areas[i], areas[later]) + 1e-9
        box_low, box_high = np.maximum(low[later], low[i]), np.minimum(high[later], high[i])
        box = np.prod(box_high - box_low, axis=1)
        undecided = box >= limit - margin  # the others overlap too little, whatever their shapes
        # two rounds of bounds on the pairs with a simple polygon: the common box whole, then cut
        # into 4 x 4 cells for those still undecided
        for grid in (1, 4):
            where = np.flatnonzero(undecided & (simple[later] | simple[i]))
            if where.size == 0:
                break
            lower, upper = _overlap_bounds(edges, simple, i, later[where], box_low[where],
                                           box_high[where], grid)
            keep = upper < limit[where] - margin[where]
            drop = lower > limit[where] + margin[where]
            suppressed[later[where[drop]]] = True
            undecided[where[keep | drop]] = False
        if undecided.any():
            pairs.append((i, later[undecided]))
            waiting[later[undecided]] = True
    return suppressed


def _settle(pairs: list[tuple[int, np.ndarray]], vertices: np.ndarray, areas: np.ndarray,
            iou_threshold: float, batch_size: int, suppressed: np.ndarray) -> None:
    """Suppress the later polygon of every pair ``(i, js)`` that the exact overlap says to, with
    the readable version's criterion (:func:`_overlaps_too_much`)."""
    first = np.concatenate([np.full(len(js), i) for i, js in pairs])
    second = np.concatenate([js for _, js in pairs])
    for start in range(0, len(first), batch_size):
        i, js = first[start:start + batch_size], second[start:start + batch_size]
        suppressed[js[_overlaps_too_much(vertices, areas, i, js, iou_threshold)]] = True


def _edges(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`area_in_boxes` needs of the edges of polygons ``(..., V, 2)``: one array
    ``(7, ..., V)`` of start ``x, y``, x range ``min, max``, slope (0 for vertical edges), its
    inverse (inf or nan for horizontal or empty edges) and direction along x (+1, -1, 0); and
    ``(..., V)`` bool, whether the edge is horizontal or empty. (Two arrays, so that the edges of
    some polygons are gathered in two calls.)"""
    x_a, y_a = vertices[..., 0], vertices[..., 1]  # edge starts
    x_b, y_b = np.roll(x_a, -1, axis=-1), np.roll(y_a, -1, axis=-1)  # edge ends
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (y_b - y_a) / (x_b - x_a)
        inverse = (x_b - x_a) / (y_b - y_a)
    flat = ~np.isfinite(inverse)  # horizontal or empty: one piece
    sloped = x_b != x_a
    slope = np.where(sloped, slope, 0.0)  # vertical edges have no width: any finite slope
    numbers = np.stack([x_a, y_a, np.minimum(x_a, x_b), np.maximum(x_a, x_b), slope, inverse,
                        np.sign(x_b - x_a)])
    return numbers, flat


def area_in_boxes(vertices: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``|P ∩ box|`` for simple polygons ``vertices (..., V, 2)`` and boxes ``[low, high]``
    ``(..., 2)``.

    The leading dimensions broadcast; the result has their shape. Green's theorem with
    ``g(x, y) = clamp(y, y0, y1) - y0`` on ``x0 <= x <= x1``: the closed integral of ``g dx``
    along the polygon's edges is (up to the orientation's sign) the area of the part of the polygon
    inside the box. Along one edge ``g`` is piecewise linear in ``x``, with breaks where the edge
    crosses ``y = y0`` or ``y = y1``; the midpoint rule is exact on each piece.
    """
    return _area_in_boxes_of(*_edges(vertices), low, high)


def _area_in_boxes_of(numbers: np.ndarray, flat: np.ndarray, low: np.ndarray,
                      high: np.ndarray) -> np.ndarray:
    """:func:`area_in_boxes` of polygons given by their :func:`_edges`."""
    x_a, y_a, x_min, x_max, slope, inverse, direction = numbers
    x0, y0 = low[..., 0, None], low[..., 1, None]  # (..., 1)
    x1, y1 = high[..., 0, None], high[..., 1, None]
    # the edge's x range, clipped to the box's
    u = np.minimum(np.maximum(x_min, x0), x1)
    v = np.minimum(np.maximum(x_max, x0), x1)
    with np.errstate(invalid="ignore"):
        at_y0 = x_a + (y0 - y_a) * inverse  # where the edge's line meets y = y0 and y = y1
        at_y1 = x_a + (y1 - y_a) * inverse
    q1 = np.where(flat, u, np.minimum(np.maximum(np.minimum(at_y0, at_y1), u), v))
    q2 = np.where(flat, u, np.minimum(np.maximum(np.maximum(at_y0, at_y1), u), v))
    total = 0.0
    for start, stop in ((u, q1), (q1, q2), (q2, v)):
        y = y_a + (0.5 * (start + stop) - x_a) * slope
        total = total + (stop - start) * (np.minimum(np.maximum(y, y0), y1) - y0)
    return np.abs(np.sum(direction * total, axis=-1))


def _overlap_bounds(edges: tuple[np.ndarray, np.ndarray], simple: np.ndarray, i: int,
                    js: np.ndarray, low: np.ndarray, high: np.ndarray,
                    grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds ``(lower, upper)`` ``(J,)`` on ``|A ∩ B_j|``, polygon ``A = i`` and ``B_j = js[j]``
    (given by :func:`_edges`, at least one of each pair simple), which both lie in the box
    ``[low_j, high_j]`` on their common part.

    The box is cut into ``grid x grid`` cells ``c``; in each, ``|A ∩ B ∩ c|`` is at most
    ``|A ∩ c|`` for a simple ``A`` (``|B ∩ c|`` for a simple ``B``, ``|c|`` always), and for two
    simple polygons at least ``|A ∩ c| + |B ∩ c| - |c|`` (and 0).
    """
    n_pairs, n_cells = len(js), grid * grid
    if grid == 1:
        cell_low, cell_high = low[:, None], high[:, None]  # (J, 1, 2)
    else:
        steps = np.arange(grid + 1) / grid  # (G + 1,)
        size = high - low  # (J, 2)
        edges_x = low[:, 0, None] + size[:, 0, None] * steps  # (J, G + 1)
        edges_y = low[:, 1, None] + size[:, 1, None] * steps
        cell_low = np.stack(np.broadcast_arrays(edges_x[:, :-1, None], edges_y[:, None, :-1]), -1)
        cell_high = np.stack(np.broadcast_arrays(edges_x[:, 1:, None], edges_y[:, None, 1:]), -1)
        cell_low = cell_low.reshape(n_pairs, n_cells, 2)
        cell_high = cell_high.reshape(n_pairs, n_cells, 2)
    # A and every B_j in one call: rows (2J, 1, V) against cells (2J, C, 2)
    rows = np.concatenate([np.full(n_pairs, i), js])
    numbers, flat = edges
    inside = _area_in_boxes_of(numbers.take(rows, axis=1)[:, :, None],
                               flat.take(rows, axis=0)[:, None],
                               np.concatenate([cell_low, cell_low]),
                               np.concatenate([cell_high, cell_high]))  # (2J, C)
    in_a, in_b = inside[:n_pairs], inside[n_pairs:]
    cell = np.prod(cell_high - cell_low, axis=-1)
    both = simple[i] & simple[js]
    upper = np.minimum(in_a if simple[i] else cell, np.where(simple[js, None], in_b, cell))
    lower = np.where(both[:, None], np.maximum(in_a + in_b - cell, 0.0), 0.0)
    return lower.sum(axis=1), upper.sum(axis=1)


def simple_polygons(vertices: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: polygon ``k`` of ``vertices (K, V, 2)``, with integer coordinates (below
    2**24), is simple: once its repeated vertices are merged, no two edges meet except consecutive
    ones at their common vertex (and those do not fold back onto each other). Its boundary is then
    a Jordan curve: winding number +1 or -1 inside (one sign), 0 outside, so the bounds of
    :func:`_suppress_fast` hold for it. Exact: every orientation is an integer below 2**50.

    For the polygons that :func:`star_shaped` rejects: snapping makes some boundaries zig-zag
    (a vertex behind its neighbours as seen from the centre) without crossing themselves.
    Non-integer coordinates (``snap=False``) are never called simple here.
    """
    n_polygons, n_vertices = vertices.shape[:2]
    integral = np.all((vertices == np.trunc(vertices)) & (np.abs(vertices) < 2**24), axis=(1, 2))
    # merge repeats: keep the vertices that differ from the one before (cyclically), in order
    distinct = np.any(vertices != np.roll(vertices, 1, axis=1), axis=2)  # (K, V)
    n = distinct.sum(axis=1)  # (K,) vertices left
    order = np.argsort(~distinct, axis=1, kind="stable")
    p = np.take_along_axis(vertices, order[..., None], axis=1)  # the first n_k are polygon k's
    index = np.arange(n_vertices)
    valid = index[None] < n[:, None]  # (K, V)
    following = np.where(valid, (index[None] + 1) % np.maximum(n[:, None], 1), 0)
    a = np.where(valid[..., None], p, np.nan)  # edges a -> b, none of length 0; padding nan
    b = np.where(valid[..., None], np.take_along_axis(p, following[..., None], axis=1), np.nan)
    d = b - a
    # per edge: start, end, direction, box; as edge e (K, V, 1) and as edge f (K, 1, V)
    per_edge = (a[..., 0], a[..., 1], b[..., 0], b[..., 1], d[..., 0], d[..., 1])
    e = [q[:, :, None] for q in per_edge]
    f = [q[:, None, :] for q in per_edge]

    def side(edge, x, y):  # sign of the cross product: point (x, y) against the edge's line
        x0, y0, _, _, dx, dy = edge
        return np.sign(dx * (y - y0) - dy * (x - x0))

    def on(edge, x, y):  # for collinear points: within the edge's box
        x0, y0, x1, y1 = edge[:4]
        return ((np.minimum(x0, x1) <= x) & (x <= np.maximum(x0, x1))
                & (np.minimum(y0, y1) <= y) & (y <= np.maximum(y0, y1)))

    with np.errstate(invalid="ignore"):  # the nan padding meets nothing
        o1, o2 = side(e, f[0], f[1]), side(e, f[2], f[3])
        o3, o4 = side(f, e[0], e[1]), side(f, e[2], e[3])
        meet = ((o1 * o2 < 0) & (o3 * o4 < 0)
                | (o1 == 0) & on(e, f[0], f[1]) | (o2 == 0) & on(e, f[2], f[3])
                | (o3 == 0) & on(f, e[0], e[1]) | (o4 == 0) & on(f, e[2], e[3]))
        step = (index[None, None, :] - index[None, :, None]) % np.maximum(n, 1)[:, None, None]
        crossing = np.any(meet & (step > 1) & (step < n[:, None, None] - 1), axis=(1, 2))
        # consecutive edges e, e + 1 share b_e; they overlap more only when collinear, turning
        # back
        d_next = np.take_along_axis(d, following[..., None], axis=1)
        fold = np.any((d[..., 0] * d_next[..., 1] - d[..., 1] * d_next[..., 0] == 0)
                      & (np.sum(d * d_next, axis=2) < 0), axis=1)
    return integral & (n >= 3) & ~crossing & ~fold


def star_shaped(vertices: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: polygon ``k`` goes once around its centre, counter-clockwise or clockwise,
    never back. Then every ray from the centre crosses its boundary at most once: it is star-shaped
    about its centre, winding number 1 inside and 0 outside, so its shoelace area is its area under
    any fill rule, and Green's theorem gives the area of any part of it.

    Snapping may merge vertices with the centre (rays shorter than a pixel): the boundary then
    passes through the centre, along rays from it, and those steps sweep no angle; the angle
    skipped there still counts towards the one full turn (so the sectors swept never overlap).
    Steps between two vertices away from the centre must turn the same way (or not at all).
    """
    n_polygons, n_vertices = vertices.shape[:2]
    # offsets from the centre, (K * V,) each
    dx = (vertices[..., 0] - centers[:, 0, None]).ravel()
    dy = (vertices[..., 1] - centers[:, 1, None]).ravel()
    away = np.flatnonzero((dx != 0) | (dy != 0))  # vertices not on the centre, polygon by polygon
    polygon = away // n_vertices
    # the next such vertex of the same polygon, cyclically
    nxt = np.roll(away, -1)
    group_start = np.flatnonzero(np.r_[True, polygon[1:] != polygon[:-1]])
    group_end = np.r_[group_start[1:], len(away)] - 1
    nxt[group_end] = away[group_start]
    # a step is a pass through the centre when vertices on the centre lie between
    passes = np.flatnonzero((nxt - away) % n_vertices != 1)
    adjacent = np.ones(len(away), bool)
    adjacent[passes] = False
    ax, ay, bx, by = dx.take(away), dy.take(away), dx.take(nxt), dy.take(nxt)
    cross = ax * by - ay * bx  # exact for integer vertices
    dot = ax * bx + ay * by
    angle = np.arctan2(cross, dot)  # (-pi, pi]
    simple = np.zeros(n_polygons, bool)
    counts = np.bincount(polygon, minlength=n_polygons)
    for sign in (1.0, -1.0):  # counter-clockwise, then clockwise
        turn = sign * angle
        turn[passes] = np.mod(turn[passes], 2 * np.pi)  # a pass may skip any angle forwards
        backwards = np.bincount(polygon, weights=adjacent & (sign * cross < 0),
                                minlength=n_polygons) > 0
        total = np.bincount(polygon, weights=turn, minlength=n_polygons)
        simple |= ~backwards & (np.abs(total - 2 * np.pi) < 1e-6) & (counts >= 3)
    return simple
