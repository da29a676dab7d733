r"""Star distances: how far each pixel can walk along ``n_rays`` directions inside its own object.

StarDist (Schmidt, Weigert, Broaddus & Myers, "Cell Detection with Star-convex Polygons", MICCAI
2018, https://arxiv.org/abs/1806.03535) describes an object by a *star-convex polygon*: from a
centre pixel :math:`(i, j)`, ``n_rays = R`` rays leave in the equally spaced directions

.. math:: \varphi_k = \frac{2\pi k}{R}, \qquad
          (\Delta_\text{row}, \Delta_\text{col}) = (\sin\varphi_k, \cos\varphi_k), \qquad k = 0..R-1,

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

   .. math:: r_k = \bigl(t - 1 + t_\text{corr}\bigr)\,\lVert(\Delta_\text{row}, \Delta_\text{col})\rVert .

So a horizontal ray in an object ``2h + 1`` pixels wide, from its middle pixel, has length ``h + 0.5``:
the half width, edge to edge. Background pixels get 0 along every ray. The image border counts as
the object's edge.

Difference from the reference: StarDist casts the labels to ``uint16`` first, so ids of 65536 and
more wrap around (65536 becomes background); here every int64 id is its own object.
"""

from __future__ import annotations

import numpy as np
import torch

from .labels import as_label_image

__all__ = ["ray_angles", "ray_directions", "star_distances"]


def _check_n_rays(n_rays: int) -> int:
    if isinstance(n_rays, bool) or not isinstance(n_rays, int | np.integer) or n_rays < 3:
        raise ValueError(f"n_rays must be an integer >= 3 (a polygon needs 3 vertices), got {n_rays!r}")
    return int(n_rays)


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


def star_distances(instances: torch.Tensor | np.ndarray, n_rays: int = 32) -> torch.Tensor:
    """Distances ``(R, H, W)`` float32 from every object pixel to its object's edge along ``R`` rays.

    Args:
        instances: ``(H, W)`` integer label image (numpy or torch), 0 = background.
        n_rays: number of equally spaced rays ``R >= 3``.

    Returns:
        ``dist`` of shape ``(R, H, W)``: ``dist[k, i, j]`` is the length of ray ``k`` from pixel
        ``(i, j)`` (see the module docstring); 0 on background. Equal to
        ``stardist.geometry.star_dist(instances, R).transpose(2, 0, 1)``.
    """
    labels = as_label_image(instances)
    n_rays = _check_n_rays(n_rays)
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
