r"""k-means clustering (Lloyd's algorithm, k-means++ seeding) and k-means colour segmentation.

k-means looks for ``k`` centres :math:`c_1, \dots, c_k` that minimise the *inertia*, the sum of
squared distances from each point to its nearest centre:

.. math:: J = \sum_{i=1}^{N} \min_j \lVert x_i - c_j \rVert^2 .

**Lloyd's algorithm** (Lloyd 1982, "Least squares quantization in PCM", IEEE Trans. Inf.
Theory 28(2)) alternates two steps that each never increase :math:`J`:

1. *assignment*: each point goes to its nearest centre, :math:`a_i = \arg\min_j \lVert x_i -
   c_j\rVert^2` (ties to the lowest index);
2. *update*: each centre moves to the mean of its points, :math:`c_j = \frac{1}{|S_j|}
   \sum_{i \in S_j} x_i`.

It stops when the assignments no longer change, or when the centres moved by a total squared
distance
:math:`\sum_j \lVert c_j^{new} - c_j\rVert^2 \le \mathrm{tol} \cdot \overline{\mathrm{var}}`
(``tol`` times the mean variance of the features, as scikit-learn's ``KMeans``); in that case the
points are assigned once more so that the assignments match the returned centres. A cluster that
loses all its points keeps its centre (scikit-learn instead moves it to a far point).

**k-means++ seeding** (Arthur & Vassilvitskii 2007, "k-means++: the advantages of careful
seeding", SODA): the first centre is a point drawn uniformly at random; each next centre is a
point drawn with probability proportional to :math:`D(x)^2`, its squared distance to the
nearest centre chosen so far. This is the plain algorithm of the paper; scikit-learn's default
is a *greedy* variant (it draws ``2 + log k`` candidates and keeps the best one).

**Segmentation.** :func:`kmeans_segmentation` clusters the pixels' colours, in CIELAB (grey
images: lightness ``100 * intensity``), optionally with the pixel position ``(row, col)``
multiplied by ``position_weight`` appended, so that a cluster also prefers nearby pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_float_image, as_points, check_k, colour_features

__all__ = ["kmeans", "kmeans_plusplus", "kmeans_segmentation"]


def _squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(N, D)`` points and ``(K, D)`` centres -> ``(N, K)`` squared Euclidean distances."""
    return ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)


def kmeans_plusplus(points: Any, k: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    r"""Indices ``(k,)`` int64 of the points chosen as initial centres by k-means++.

    Args:
        points: ``(N, D)`` numpy array or torch tensor.
        k: number of centres, ``1 <= k <= N``.
        seed: an integer seed or a ``numpy.random.Generator``.

    The first index is uniform over ``0..N-1``; each next one is drawn with probability
    :math:`D(x)^2 / \sum_y D(y)^2` (see the module docstring). When all remaining points
    coincide with chosen centres (every :math:`D = 0`), the next one is drawn uniformly.
    """
    points = as_points(points)
    k = check_k(k, n=len(points))
    rng = np.random.default_rng(seed)
    n = len(points)
    # 1. the first centre: uniform over the points
    chosen = [int(rng.integers(n))]
    # D(x)^2: squared distance of every point to its nearest chosen centre
    d2 = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        # 2. the next centre: drawn with probability proportional to D(x)^2
        total = d2.sum()
        probabilities = d2 / total if total > 0 else np.full(n, 1.0 / n)
        nxt = int(rng.choice(n, p=probabilities))
        chosen.append(nxt)
        # 3. a new centre can only bring points closer: update D(x)^2
        d2 = np.minimum(d2, ((points - points[nxt]) ** 2).sum(axis=1))
    return np.asarray(chosen, dtype=np.int64)


def kmeans(
    points: Any,
    k: int,
    *,
    n_iter: int = 300,
    seed: int | np.random.Generator = 0,
    init: str | np.ndarray = "k-means++",
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means on ``points (N, D)``; returns
    ``(centres (k, D) float64, assignments (N,) int64)``.

    Args:
        points: ``(N, D)`` numpy array or torch tensor.
        k: number of clusters, ``1 <= k <= N``.
        n_iter: the most Lloyd iterations (assignment + update).
        seed: integer seed or ``numpy.random.Generator`` for the initialisation.
        init: ``"k-means++"`` (:func:`kmeans_plusplus`), ``"random"`` (``k`` distinct points
            drawn uniformly) or an array ``(k, D)`` of initial centres.
        tol: relative tolerance on the centre shift (times the mean feature variance), as
            scikit-learn's ``tol``; ``0`` stops only when the assignments no longer change.

    ``assignments[i]`` is the index in ``0..k-1`` of the centre nearest to point ``i``.
    """
    points = as_points(points)
    n = len(points)
    k = check_k(k, n=n)
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
    rng = np.random.default_rng(seed)
    # initial centres
    if isinstance(init, str) and init == "k-means++":
        centres = points[kmeans_plusplus(points, k, seed=rng)].copy()
    elif isinstance(init, str) and init == "random":
        centres = points[rng.choice(n, size=k, replace=False)].copy()
    elif isinstance(init, str):
        raise ValueError(f"init must be 'k-means++', 'random' or an array (k, D), got {init!r}")
    else:
        centres = as_points(init, name="init").copy()
        if centres.shape != (k, points.shape[1]):
            raise ValueError(
                f"init must have shape (k, D) = ({k}, {points.shape[1]}), got {centres.shape}"
            )
    threshold = tol * float(np.mean(np.var(points, axis=0))) if tol > 0 else 0.0
    previous = np.full(n, -1, dtype=np.int64)
    converged = False
    for _ in range(n_iter):
        # 1. assignment: each point to its nearest centre (argmin: ties to the lowest index)
        assignments = _squared_distances(points, centres).argmin(axis=1)
        # 2. update: each centre to the mean of its points (an empty cluster keeps its centre)
        counts = np.bincount(assignments, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, assignments, points)
        new_centres = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        shift = float(((new_centres - centres) ** 2).sum())
        centres = new_centres
        # 3. stop when nothing changed, or when the centres hardly moved
        if np.array_equal(assignments, previous):
            converged = True
            break
        if shift <= threshold:
            break
        previous = assignments
    if not converged:
        # the centres moved after the last assignment: assign once more so that they match
        assignments = _squared_distances(points, centres).argmin(axis=1)
    return centres, assignments.astype(np.int64)


def kmeans_segmentation(
    image: Any, k: int, *, position_weight: float = 0.0, seed: int = 0, n_iter: int = 300
) -> np.ndarray:
    """Segment an image into ``k`` colour clusters with k-means.

    Args:
        image: numpy ``(H, W)`` / ``(H, W, 3)``, or torch ``(H, W)`` / ``(C, H, W)`` in ``[0, 1]``.
        k: number of clusters.
        position_weight: weight of the pixel position ``(row, col)`` appended to the colour
            features (CIELAB units per pixel); ``0`` clusters colour only.
        seed: seed of the k-means++ initialisation.
        n_iter: the most Lloyd iterations.

    Returns:
        int64 ``(H, W)`` label image with labels ``1..k`` (no background), ordered by the
        cluster's mean lightness: label 1 is the darkest cluster.
    """
    array = as_float_image(image)
    h, w = array.shape[:2]
    # 1. features: CIELAB colour (grey: 100 * intensity) ...
    features = colour_features(array).reshape(h * w, -1)
    if position_weight:
        # ... plus the pixel position, scaled by position_weight
        rows, cols = np.mgrid[0:h, 0:w]
        position = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
        features = np.concatenate([features, position_weight * position], axis=1)
    # 2. k-means on the (H * W, C) features
    centres, assignments = kmeans(features, k, n_iter=n_iter, seed=seed)
    # 3. name the clusters 1..k from the darkest to the lightest (L is feature 0)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(centres[:, 0], kind="stable")] = np.arange(1, k + 1)
    return rank[assignments].reshape(h, w)
