r"""From star distances to polygons, and from polygons to a label image.

A StarDist prediction at pixel :math:`c = (c_\text{row}, c_\text{col})` is ``R`` distances
:math:`r_0, \dots, r_{R-1}`; they define the star-convex polygon (Schmidt et al., MICCAI 2018,
https://arxiv.org/abs/1806.03535) with vertices

.. math:: v_k = \bigl(c_\text{row} + r_k \sin\varphi_k,\; c_\text{col} + r_k \cos\varphi_k\bigr),
          \qquad \varphi_k = 2\pi k / R,

in the direction convention of :mod:`.rays` (``stardist.geometry.dist_to_coord``).

Rendering (``stardist.geometry.polygons_to_label``): every polygon is filled with
``skimage.draw.polygon`` (a pixel belongs to the polygon when its centre lies inside) and painted
with its own label, in order of *increasing* score, so that where polygons overlap the
highest-scoring one is painted last and wins. Polygon ``k`` of the input gets label ``k + 1``.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.draw import polygon as fill_polygon

from ._checks import _numpy
from .rays import ray_angles

__all__ = ["rays_to_polygons", "render_polygons", "render_star_polygons"]


def rays_to_polygons(
    dist: torch.Tensor | np.ndarray, centers: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """Vertex coordinates ``(K, 2, R)`` float32 (rows then columns) of star polygons.

    Args:
        dist: ``(K, R)`` distances along the ``R`` rays (or ``(R,)`` for one polygon).
        centers: ``(K, 2)`` polygon centres ``(row, col)`` (or ``(2,)`` for one polygon).

    Returns:
        ``coords`` ``(K, 2, R)`` float32: ``coords[k, 0]`` the rows and ``coords[k, 1]`` the
        columns of polygon ``k``'s vertices, equal to ``stardist.geometry.dist_to_coord``.
    """
    dist, centers = _numpy(dist, "dist"), _numpy(centers, "centers")
    if dist.ndim == 1:
        dist = dist[None]
    if centers.ndim == 1:
        centers = centers[None]
    if dist.ndim != 2 or dist.shape[1] < 3:
        raise ValueError(
            f"dist must be (K, R) or (R,) with R >= 3 rays, got shape {tuple(dist.shape)}")
    if centers.ndim != 2 or centers.shape != (dist.shape[0], 2):
        raise ValueError(f"centers must be (K, 2) with K = {dist.shape[0]}, "
                         f"got shape {tuple(centers.shape)}")
    phi = ray_angles(dist.shape[1])  # (R,) float64
    # offsets r_k (sin phi_k, cos phi_k) from the centre: (K, 2, R), rounded to float32 as StarDist
    coords = (dist[:, None, :] * np.stack([np.sin(phi), np.cos(phi)])[None]).astype(np.float32)
    coords += centers[:, :, None]  # add the centre (row, col) to every vertex (stays float32)
    return torch.from_numpy(coords)


def render_polygons(
    coords: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray | None,
    shape: tuple[int, int],
) -> torch.Tensor:
    """Paint polygons into an ``(H, W)`` int64 label image, the highest score on top.

    Args:
        coords: ``(K, 2, V)`` vertices (rows, columns) of ``K`` polygons, e.g. from
            :func:`rays_to_polygons`.
        scores: ``(K,)`` scores (object probabilities) or None (all equal: later polygons on top).
        shape: ``(H, W)`` of the output.

    Returns:
        ``(H, W)`` int64 labels: polygon ``k`` is painted with ``k + 1`` where its score is the
        highest of the polygons covering the pixel (ties: the later polygon), 0 elsewhere. Equal to
        ``stardist.geometry.polygons_to_label`` (same ``skimage.draw.polygon`` rasterisation).
    """
    coords = _numpy(coords, "coords")
    if coords.ndim != 3 or coords.shape[1] != 2:
        raise ValueError("coords must be (K, 2, V) (rows, columns of V vertices), "
                         f"got shape {tuple(coords.shape)}")
    if len(shape) != 2:
        raise ValueError(f"shape must be (H, W), got {shape!r}")
    labels = np.zeros(tuple(int(s) for s in shape), np.int64)
    if scores is None:
        scores = np.zeros(len(coords))
    scores = _numpy(scores, "scores")
    if scores.shape != (len(coords),):
        raise ValueError(f"scores must be ({len(coords)},), got shape {tuple(scores.shape)}")
    # paint in order of increasing score (stable: among equal scores, later polygons on top)
    for k in np.argsort(scores, kind="stable"):
        rr, cc = fill_polygon(coords[k, 0], coords[k, 1], labels.shape)  # pixel centres inside
        labels[rr, cc] = k + 1
    return torch.from_numpy(labels)


def render_star_polygons(
    dist: torch.Tensor | np.ndarray,
    points: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray | None,
    shape: tuple[int, int],
) -> torch.Tensor:
    """:func:`render_polygons` of the star polygons ``dist (K, R)`` centred at ``points (K, 2)``.

    Equal to ``stardist.geometry.polygons_to_label(dist, points, shape, prob=scores)``.
    """
    dist = _numpy(dist, "dist")
    if dist.ndim == 2 and dist.shape[0] == 0:  # no polygon: an empty label image
        return torch.zeros(tuple(int(s) for s in shape), dtype=torch.int64)
    return render_polygons(rays_to_polygons(dist, points), scores, shape)
