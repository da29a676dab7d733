r"""Star distances: how far each pixel can walk along ``n_rays`` directions inside its own object.

StarDist (Schmidt, Weigert, Broaddus & Myers, "Cell Detection with Star-convex Polygons", MICCAI
2018, https://arxiv.org/abs/1806.03535) describes an object by a *star-convex polygon*: from a
centre pixel :math:`(i, j)`, ``n_rays = R`` rays leave in the equally spaced directions

.. math:: \varphi_k = \frac{2\pi k}{R}, \qquad
          (\Delta_\text{row}, \Delta_\text{col}) = (\sin\varphi_k, \cos\varphi_k),
          \qquad k = 0..R-1,

(ray 0 points right along the columns, ray ``R/4`` down along the rows), and the polygon's vertex
``k`` lies at distance :math:`r_k` along ray ``k``. The network predicts, for every pixel of an
object, these ``R`` distances to the object's edge. This module computes the *true* distances
from a label image, the training target.

The measurement, exactly as ``stardist.geometry.star_dist`` (its C++ ``c_star_dist``) does it:

1. march along the ray in unit steps, :math:`(x_t, y_t) = t\,(\Delta_\text{row}, \Delta_\text{col})`
   (accumulated in float32, ``x += dx`` at every step), and look at the pixel
   ``(rint(i + x_t), rint(j + y_t))`` (rounding half to even);
2. stop at the first step ``t`` whose pixel lies outside the image or carries another label
   (background *or* a touching object);
3. the last pixel inside was step ``t - 1``; step back to it and go on to its edge: the walk is
   corrected by :math:`t_\text{corr} = 0.5 / \max(|\Delta_\text{row}|, |\Delta_\text{col}|)` steps,
   i.e. half a pixel along the ray's dominant axis ("measured to the pixel edge"):

   .. math:: r_k = \bigl(t - 1 + t_\text{corr}\bigr)\,
             \lVert(\Delta_\text{row}, \Delta_\text{col})\rVert .

So a horizontal ray in an object ``2h + 1`` pixels wide, from its middle pixel, has length
``h + 0.5``: the half width, edge to edge. Background pixels get 0 along every ray. The image
border counts as the object's edge.

Difference from the reference: StarDist casts the labels to ``uint16`` first, so ids of 65536 and
more wrap around (65536 becomes background); here every int64 id is its own object.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import _check_n_rays
from .labels import as_label_image

__all__ = ["ray_angles", "ray_directions", "star_distances", "step_shifts"]


def ray_angles(n_rays: int = 32) -> np.ndarray:
    """The ``(R,)`` float64 angles :math:`2\\pi k / R`, as ``stardist.geometry.ray_angles``."""
    n_rays = _check_n_rays(n_rays)
    return np.linspace(0, 2 * np.pi, n_rays, endpoint=False)


def ray_directions(n_rays: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Unit steps ``(d_row, d_col)``, each ``(R,)`` float32: ``(sin phi_k, cos phi_k)``.

    Computed as StarDist's C++ code does, so that the marching below reproduces its numbers bit
    for bit: the angle ``phi = k * (2 pi / R)`` in float32, its sine and cosine in float64, rounded
    to float32. (numpy's float32 ``sin``/``cos`` are off by one unit in the last place for some
    angles; StarDist's ``mode='python'`` uses them and differs from its own C++ by that much.)
    """
    n_rays = _check_n_rays(n_rays)
    step = np.float32(2 * np.pi / n_rays)  # angle between two rays, float32
    phi = (np.arange(n_rays, dtype=np.float32) * step).astype(np.float64)  # (R,) float32 values
    return np.sin(phi).astype(np.float32), np.cos(phi).astype(np.float32)


def star_distances(
    instances: torch.Tensor | np.ndarray, n_rays: int = 32, *, method: str = "fast"
) -> torch.Tensor:
    """Distances ``(R, H, W)`` float32 from every object pixel to its object's edge along ``R``
    rays.

    Args:
        instances: ``(H, W)`` integer label image (numpy or torch), 0 = background.
        n_rays: number of equally spaced rays ``R >= 3``.
        method: ``"fast"`` (default: the same marching with one shift per ray and step instead
            of per-pair lookups, see :func:`_star_distances_fast`) or ``"readable"`` (every
            (pixel, ray) pair marched as written in the module docstring). Both give the same
            bits.

    Returns:
        ``dist`` of shape ``(R, H, W)``: ``dist[k, i, j]`` is the length of ray ``k`` from pixel
        ``(i, j)`` (see the module docstring); 0 on background. Equal to
        ``stardist.geometry.star_dist(instances, R).transpose(2, 0, 1)``.
    """
    labels = as_label_image(instances)
    n_rays = _check_n_rays(n_rays)
    if method == "fast":
        return _star_distances_fast(labels, n_rays)
    if method == "readable":
        return _star_distances_readable(labels, n_rays)
    raise ValueError(f"method must be 'fast' or 'readable', got {method!r}")


def _star_distances_readable(labels: np.ndarray, n_rays: int) -> torch.Tensor:
    """The readable version: every (pixel, ray) pair marched step by step (the teaching code).

    Same contract as :func:`star_distances`; ``labels`` is the checked ``(H, W)`` int64 image.
    """
    height, width = labels.shape
    dist = np.zeros((n_rays, height, width), np.float32)

    # 1. the rays to follow: every (foreground pixel, direction) pair, flattened
    rows, cols = np.nonzero(labels)  # (P,) each
    if rows.size == 0:
        return torch.from_numpy(dist)
    d_row, d_col = ray_directions(n_rays)  # (R,) float32 each
    pixel = np.repeat(np.arange(rows.size), n_rays)  # (P * R,): which pixel a ray starts from
    ray = np.tile(np.arange(n_rays), rows.size)  # (P * R,): which direction it follows
    start_row, start_col = rows[pixel].astype(np.float32), cols[pixel].astype(np.float32)
    own_label = labels[rows, cols][pixel]
    step_row, step_col = d_row[ray], d_col[ray]
    off_row = np.zeros(pixel.size, np.float32)  # offset walked so far, float32 as in the reference
    off_col = np.zeros(pixel.size, np.float32)
    active = np.arange(pixel.size)  # the rays still inside their object

    while active.size:
        # 2. one unit step along every active ray, then look at the pixel it lands in
        off_row[active] += step_row[active]
        off_col[active] += step_col[active]
        ii = np.rint(start_row[active] + off_row[active]).astype(np.int64)  # round half to even
        jj = np.rint(start_col[active] + off_col[active]).astype(np.int64)
        outside = (ii < 0) | (ii >= height) | (jj < 0) | (jj >= width)
        left = outside.copy()
        inside = ~outside
        left[inside] = labels[ii[inside], jj[inside]] != own_label[active[inside]]
        done = active[left]
        # 3. the ray has left its object: step back to the last pixel inside, then on to its edge
        t_corr = np.float32(0.5) / np.maximum(np.abs(step_row[done]), np.abs(step_col[done]))
        off_row[done] += (t_corr - np.float32(1)) * step_row[done]
        off_col[done] += (t_corr - np.float32(1)) * step_col[done]
        length = np.sqrt(off_row[done] * off_row[done] + off_col[done] * off_col[done])
        dist[ray[done], rows[pixel[done]], cols[pixel[done]]] = length
        active = active[~left]
    return torch.from_numpy(dist)


def _star_distances_fast(labels: np.ndarray, n_rays: int) -> torch.Tensor:
    """The fast version of :func:`_star_distances_readable`: the same marching, the same bits.

    Four observations remove most of the work of the readable version:

    1. the offset walked after ``t`` steps along ray ``k`` is the same float32 number for every
       pixel, so it is accumulated once per ray, not once per (pixel, ray), 32 steps at a time;
    2. the pixel looked at, ``(rint(row + off_row), rint(col + off_col))`` in float32, is almost
       always the start pixel moved by a whole *shift* that is the same for every start: when the
       fraction of ``off`` is farther from 1/2 than the float32 rounding of ``row + off`` can move
       it (:func:`step_shifts`), ``rint(row + off) = row + floor(off) + [frac(off) > 1/2]``. Such a
       step costs one index per (pixel, ray) pair: start + shift of its ray. At the other steps
       (a fraction at 1/2 within rounding, e.g. ``off = 0.5`` for 12 rays) the pixels are looked up
       row by row and column by column in ``(R, H)`` and ``(R, W)`` tables, as the reference
       computes them;
    3. the length of a ray that stops at step ``t`` depends on ``(k, t)`` only: it is computed per
       ray when the step is reached, with the reference's float32 operations;
    4. the labels live in a padded image (a ring of -1 around it: "outside"), in int16 when the
       ids allow, and the per-pair arrays in int32: less memory to stream through at every step.

    Stopped pairs stay in the arrays (masked) until they make up 40 % of them, then are dropped.
    """
    height, width = labels.shape
    n_out = n_rays * height * width
    out_type = np.int32 if n_out < 2**31 else np.int64
    dist = np.zeros(n_out, np.float32)
    flat = np.flatnonzero(labels)  # the foreground pixels, row-major
    n_pixels = flat.size
    if n_pixels == 0:
        return torch.from_numpy(dist.reshape(n_rays, height, width))
    rows, cols = np.divmod(flat, width)
    d_row, d_col = ray_directions(n_rays)  # (R,) float32 each
    t_corr = np.float32(0.5) / np.maximum(np.abs(d_row), np.abs(d_col))
    back_row, back_col = (t_corr - np.float32(1)) * d_row, (t_corr - np.float32(1)) * d_col
    # the label image with a ring of -1 around it ("outside"), flattened
    padded_width = width + 2
    top = int(labels.max())
    padded = np.full((height + 2, padded_width), -1, np.int16 if top < 2**15 - 1 else np.int32)
    if top < np.iinfo(np.int32).max:
        padded[1:-1, 1:-1] = labels
    else:  # ids beyond int32: compact them first (only equality matters)
        padded[1:-1, 1:-1] = np.unique(labels, return_inverse=True)[1].reshape(height, width) + 1
    padded = padded.ravel()
    index_type = np.int32 if padded.size < 2**31 else np.int64
    # one entry per (ray, pixel) pair, ray by ray: where it starts in the padded image, its label,
    # where its length goes in the output (R, H * W)
    start_0 = ((rows + 1) * padded_width + cols + 1).astype(index_type)
    start = np.tile(start_0, n_rays)
    own = np.tile(padded.take(start_0), n_rays)
    out = (np.arange(n_rays, dtype=out_type)[:, None] * (height * width)
           + flat.astype(out_type)).ravel()
    alive = np.ones(start.size, bool)
    segment = np.full(n_rays, n_pixels)  # how many entries each ray has in the arrays
    n_alive = segment.copy()  # how many of them still walk
    bounds = np.arange(n_rays + 1) * n_pixels  # where each ray's entries begin and end
    row_f, col_f = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    walk = np.zeros((1, 2, n_rays), np.float32)  # offsets after t_0 + k steps, (row, col) per ray
    t = t_0 = 0
    while bounds[-1]:
        # 1. one unit step along every ray (float32, as the reference accumulates it: one add
        #    at a time, which np.add.accumulate does too), 32 steps ahead at a time
        t += 1
        if t - t_0 == len(walk):
            steps = np.empty((33, 2, n_rays), np.float32)
            steps[0], steps[1:] = walk[-1], np.stack([d_row, d_col])
            walk = np.add.accumulate(steps, axis=0)
            shifts, exact = step_shifts(walk[:, 0], walk[:, 1], height, width, padded_width)
            t_0 = t - 1
        off_row, off_col = walk[t - t_0]
        shift = shifts[t - t_0] if exact[t - t_0] else None
        # 2. the padded index of the pixel each pair looks at
        if shift is not None:
            index = np.repeat(shift.astype(index_type), segment)
            index += start
        else:  # a fraction at 1/2: row and column tables per ray, as the reference rounds
            look_row = np.clip(np.rint(row_f[None, :] + off_row[:, None]), -1, height) + 1
            look_col = np.clip(np.rint(col_f[None, :] + off_col[:, None]), -1, width) + 1
            ray = np.repeat(np.arange(n_rays), segment)
            start_row, start_col = np.divmod(start, padded_width)
            index = (look_row.astype(np.intp) * padded_width)[ray, start_row - 1]
            index += look_col.astype(np.intp)[ray, start_col - 1]
        # 3. the pairs whose pixel carries another label (or lies outside) stop at step t; the
        #    stopped ones may walk off the padded image (clipped), their answer is masked
        left = padded.take(index, mode="clip") != own
        left &= alive
        n_left = int(np.count_nonzero(left))
        if not n_left:
            continue
        stopped = np.flatnonzero(left)
        per_ray = np.diff(np.searchsorted(stopped, bounds))
        # 4. their length: back one step, then t_corr on, as the reference (float32)
        length = np.sqrt(np.square(off_row + back_row) + np.square(off_col + back_col))
        dist.put(out.take(stopped), np.repeat(length, per_ray))
        alive[stopped] = False
        n_alive -= per_ray
        total = int(n_alive.sum())
        if total < 0.6 * alive.size:  # drop the stopped pairs
            keep = np.flatnonzero(alive)
            start, own, out = start.take(keep), own.take(keep), out.take(keep)
            alive = np.ones(total, bool)
            segment = n_alive.copy()
            bounds = np.r_[0, np.cumsum(segment)]
    return torch.from_numpy(dist.reshape(n_rays, height, width))


def step_shifts(off_row: np.ndarray, off_col: np.ndarray, height: int, width: int,
                padded_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Shifts ``(T, R)`` in the padded image of the pixels looked at after walking ``off (T, R)``
    along each ray, the same for every start pixel where ``exact (T,)`` says so (elsewhere, at
    least one ray's shift may depend on the start pixel).

    For an integer ``row`` in ``[0, H)`` the reference rounds the float32 sum ``row + off``. Its
    exact value has the fraction ``f = off - floor(off)``; float32 moves it by at most half a unit
    in the last place, below ``2**(e - 24)`` for ``|row + off| < 2**e``. When ``f`` is farther than
    that from 1/2 (the margin below is 4 times more),
    ``rint(row + off) = row + floor(off) + [f > 1/2]`` for every row (near 0 or 1 the rounding
    goes to the same integer).
    """
    reach = max(height, width) + 2 + np.maximum(np.abs(off_row).max(axis=1),
                                                np.abs(off_col).max(axis=1))  # (T,)
    margin = 2.0 ** (np.ceil(np.log2(reach)) - 22)
    exact = np.ones(len(off_row), bool)
    shifts = []
    for off in (off_row, off_col):
        floor = np.floor(off)
        fraction = off.astype(np.float64) - floor  # exact
        exact &= np.all(np.abs(fraction - 0.5) > margin[:, None], axis=1)
        shifts.append(floor.astype(np.int64) + (fraction > 0.5))
    return shifts[0] * padded_width + shifts[1], exact
