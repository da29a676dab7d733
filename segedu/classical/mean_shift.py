r"""Mean shift: clusters are the modes of the density of the points (Comaniciu & Meer 2002).

Comaniciu & Meer, "Mean shift: a robust approach toward feature space analysis", IEEE TPAMI
24(5), 2002 (after Fukunaga & Hostetler 1975). With a *flat* kernel of radius ``h`` (the
``bandwidth``), the mean shift step moves a point ``m`` to the mean of the data points within
``h`` of it,

.. math:: m \leftarrow \frac{1}{|N(m)|} \sum_{x_i \in N(m)} x_i, \qquad
          N(m) = \{x_i : \lVert x_i - m \rVert \le h\},

which climbs the density estimated with the (Epanechnikov-shadowed) kernel until it stops at a
*mode*. :func:`mean_shift` follows scikit-learn's ``MeanShift(bin_seeding=False)``:

1. every data point is a seed; each seed moves by the step above until it moves by at most
   ``1e-3 * h`` (or ``max_iter`` steps were taken);
2. each converged seed is a candidate mode, weighted by the number of points that were within
   ``h`` at its last step (seeds that end on exactly the same point count once);
3. candidates are visited from the heaviest down (equal weights: larger coordinates first), and
   each kept mode removes every candidate within ``h`` of it (near-duplicates of one mode);
4. each point gets the label of its nearest mode.

**Segmentation** (Comaniciu & Meer, section 5): each pixel becomes a point in the *joint
spatial-range domain* :math:`(r / h_s, c / h_s, \text{colour} / h_r)` (CIELAB colour, grey
images: ``100 * intensity``), so that one bandwidth of 1 covers ``spatial_bandwidth`` pixels and
``range_bandwidth`` colour units. The paper uses a product of two kernels (one per domain);
with flat kernels, this module's ball in the scaled joint space is the usual simplification
(also that of scikit-learn used on such features). All pixels are seeds, so the image is first
shrunk (``max_pixels``, by area averaging) and the labels are brought back to full size by
nearest neighbour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.transform import resize

from ._checks import as_float_image, as_points, check_positive, colour_features

__all__ = ["mean_shift", "mean_shift_segmentation"]

_CHUNK = 512  # seeds moved together (a chunk x N distance matrix at a time)


def _within(points: np.ndarray, means: np.ndarray, bandwidth: float) -> np.ndarray:
    """``(S, N)`` bool: which points lie within ``bandwidth`` of each of the ``S`` means."""
    d2 = (means**2).sum(1)[:, None] - 2.0 * means @ points.T + (points**2).sum(1)[None, :]
    return d2 <= bandwidth**2


def mean_shift(
    points: Any, bandwidth: float, *, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Mean shift clustering with a flat kernel; returns ``(modes (K, D), labels (N,) int64)``.

    Args:
        points: ``(N, D)`` numpy array or torch tensor.
        bandwidth: the kernel radius ``h > 0``.
        max_iter: the most steps per seed.

    ``modes`` are ordered from the heaviest (most points around) down; ``labels[i]`` is the
    index of the mode nearest to point ``i``. Same result as
    ``sklearn.cluster.MeanShift(bandwidth=h, bin_seeding=False)``.
    """
    x = as_points(points)
    h = check_positive("bandwidth", bandwidth)
    stop = 1e-3 * h
    n = len(x)
    modes = np.empty_like(x)
    weights = np.zeros(n, dtype=np.int64)
    # 1. every point is a seed; move the seeds, a chunk at a time, until each converges
    for start in range(0, n, _CHUNK):
        means = x[start : start + _CHUNK].copy()
        count = np.zeros(len(means), dtype=np.int64)
        active = np.ones(len(means), dtype=bool)
        for step in range(max_iter + 1):
            idx = np.flatnonzero(active)
            near = _within(x, means[idx], h)
            count[idx] = near.sum(1)
            # the mean of the points within h (a seed is always within h of itself)
            new = (near @ x) / count[idx][:, None]
            moved = np.linalg.norm(new - means[idx], axis=1)
            means[idx] = new
            # a seed stops when it moved by at most 1e-3 h, or after max_iter steps
            done = (moved <= stop) | (step == max_iter)
            active[idx[done]] = False
            if not active.any():
                break
        modes[start : start + len(means)] = means
        weights[start : start + len(means)] = count
    # 2. candidate modes, weighted by the points near them; identical modes count once
    #    (as in scikit-learn's dict of modes, the last seed's weight is the one kept)
    unique, first_reversed = np.unique(modes[::-1], axis=0, return_index=True)
    weight = weights[::-1][first_reversed]
    # 3. from the heaviest down (ties: larger coordinates first), drop near-duplicates
    order = np.lexsort([unique[:, d] for d in range(unique.shape[1] - 1, -1, -1)] + [weight])[::-1]
    candidates = unique[order]
    keep = np.ones(len(candidates), dtype=bool)
    for i in range(len(candidates)):
        if keep[i]:
            close = ((candidates - candidates[i]) ** 2).sum(1) <= h**2
            keep[close] = False
            keep[i] = True
    centres = candidates[keep]
    # 4. each point to its nearest mode
    labels = np.concatenate([
        ((x[s : s + _CHUNK, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        for s in range(0, n, _CHUNK)
    ])
    return centres, labels.astype(np.int64)


def mean_shift_segmentation(
    image: Any,
    *,
    spatial_bandwidth: float = 8.0,
    range_bandwidth: float = 8.0,
    max_pixels: int = 48 * 48,
    max_iter: int = 300,
) -> np.ndarray:
    """Segment an image by mean shift in the joint spatial-range domain (Comaniciu & Meer 2002).

    Args:
        image: numpy ``(H, W)`` / ``(H, W, 3)`` or torch ``(H, W)`` / ``(C, H, W)`` in ``[0, 1]``.
        spatial_bandwidth: :math:`h_s`, in pixels of the (possibly shrunk) image.
        range_bandwidth: :math:`h_r`, in CIELAB units (grey: ``100 * intensity``).
        max_pixels: the image is shrunk (keeping its aspect) to at most this many pixels first.
        max_iter: the most mean shift steps per seed.

    Returns:
        int64 ``(H, W)`` label image (full size), labels ``1..K``, 1 the heaviest mode.
    """
    array = as_float_image(image)
    hs = check_positive("spatial_bandwidth", spatial_bandwidth)
    hr = check_positive("range_bandwidth", range_bandwidth)
    h, w = array.shape[:2]
    # 1. shrink the image so that at most max_pixels pixels are seeds
    scale = min(1.0, float(np.sqrt(max_pixels / (h * w))))
    small_shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = resize(array, small_shape + array.shape[2:], anti_aliasing=True) if scale < 1 else array
    sh, sw = small.shape[:2]
    # 2. joint spatial-range features (row / h_s, col / h_s, colour / h_r)
    rr, cc = np.mgrid[0:sh, 0:sw]
    features = np.concatenate([
        np.stack([rr.ravel(), cc.ravel()], axis=1) / hs,
        colour_features(small).reshape(sh * sw, -1) / hr,
    ], axis=1)
    # 3. mean shift with bandwidth 1 in that space
    _, labels = mean_shift(features, 1.0, max_iter=max_iter)
    labels = labels.reshape(sh, sw) + 1
    # 4. back to full size: nearest neighbour
    if (sh, sw) != (h, w):
        rows = np.minimum((np.arange(h) + 0.5) * sh / h, sh - 1).astype(np.int64)
        cols = np.minimum((np.arange(w) + 0.5) * sw / w, sw - 1).astype(np.int64)
        labels = labels[rows[:, None], cols[None, :]]
    return labels.astype(np.int64)
