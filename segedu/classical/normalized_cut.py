r"""Normalized cut (Shi & Malik 2000): split a graph where the affinity across is small
relative to the affinity within.

Shi & Malik, "Normalized cuts and image segmentation", IEEE TPAMI 22(8), 2000. The image is a
weighted graph: node ``i`` has features :math:`F_i` (intensity or colour) and position
:math:`X_i`, and the affinity of two nodes closer than ``radius`` is

.. math:: W_{ij} = \exp\!\Big(-\frac{\lVert F_i - F_j \rVert^2}{\sigma_I^2}\Big)
          \exp\!\Big(-\frac{\lVert X_i - X_j \rVert^2}{\sigma_X^2}\Big)
          \quad\text{if } \lVert X_i - X_j \rVert < r, \text{ else } 0

(a node is its own neighbour: :math:`W_{ii} = 1`). A partition into ``A`` and ``B`` costs

.. math:: \mathrm{Ncut}(A, B) = \frac{\mathrm{cut}(A, B)}{\mathrm{assoc}(A, V)}
          + \frac{\mathrm{cut}(A, B)}{\mathrm{assoc}(B, V)}, \qquad
          \mathrm{cut}(A, B) = \sum_{i \in A, j \in B} W_{ij}, \quad
          \mathrm{assoc}(A, V) = \sum_{i \in A} d_i,

with :math:`d_i = \sum_j W_{ij}` the degree. Minimising Ncut exactly is NP-hard; relaxing the
indicator to real values gives the generalised eigenproblem

.. math:: (D - W)\, y = \lambda D y,

whose eigenvector of the *second smallest* eigenvalue approximates the best partition (the
smallest is :math:`\lambda = 0`, :math:`y = \mathbf 1`). With :math:`z = D^{1/2} y` it becomes
the symmetric problem :math:`D^{-1/2}(D - W)D^{-1/2} z = \lambda z` (the normalised Laplacian),
which :func:`ncut_eigenvector` solves with ``scipy.sparse.linalg.eigsh`` (as the two *largest*
eigenvectors of :math:`D^{-1/2} W D^{-1/2}`, where ARPACK converges fast; a dense solver for
tiny graphs, and as a fallback when ARPACK stalls on a repeated eigenvalue, which happens when a
segment's graph falls apart into disconnected pieces). The real-valued ``y`` is then split at the
threshold with the smallest Ncut (:func:`best_split`: every point between two consecutive distinct
values of ``y`` is tried, Shi & Malik try ``l`` evenly spaced ones), and each part is split again
while its best Ncut stays below ``max_ncut`` (:func:`recursive_ncut`; or, with ``n_segments``, the
segment with the cheapest split is split until there are that many). Shi & Malik also skip unstable
eigenvectors; this module does not.

**Speed.** A pixel graph has ``H * W`` nodes; :func:`pixel_affinity` builds it for small images
(tests, figures). :func:`normalized_cut_segmentation` works on SLIC superpixels (Achanta et al.
2012) instead: a node per superpixel with its mean CIELAB colour as :math:`F_i` and its centroid
as :math:`X_i`, joined to the superpixels it touches (the region adjacency graph, RAG, plays the
role of the radius ``r``). A few hundred nodes instead of a hundred thousand pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg
from skimage.segmentation import slic

from ._checks import as_float_image, check_k, check_positive, colour_features

__all__ = [
    "pixel_affinity",
    "superpixel_affinity",
    "ncut_eigenvector",
    "ncut_value",
    "best_split",
    "recursive_ncut",
    "normalized_cut_segmentation",
]

_DENSE_BELOW = 32  # graphs with fewer nodes are solved with a dense eigensolver
_DENSE_FALLBACK_UP_TO = 4000  # when ARPACK does not converge, dense up to this many nodes


def _affinity(features: np.ndarray, positions: np.ndarray, rows: np.ndarray, cols: np.ndarray,
              sigma_i: float, sigma_x: float, n: int) -> sp.csr_matrix:
    """Sparse ``(n, n)`` W with the Shi-Malik weight on the node pairs ``(rows, cols)``."""
    df = ((features[rows] - features[cols]) ** 2).sum(axis=1)  # ||F_i - F_j||^2
    dx = ((positions[rows] - positions[cols]) ** 2).sum(axis=1)  # ||X_i - X_j||^2
    weights = np.exp(-df / sigma_i**2) * np.exp(-dx / sigma_x**2)
    return sp.csr_matrix((weights, (rows, cols)), shape=(n, n))


def pixel_affinity(image: Any, *, sigma_i: float = 0.1, sigma_x: float = 4.0,
                   radius: float = 5.0) -> sp.csr_matrix:
    """The Shi-Malik affinity of every pair of pixels closer than ``radius``: sparse ``(N, N)``.

    Args:
        image: numpy ``(H, W)`` / ``(H, W, 3)`` or torch ``(H, W)`` / ``(C, H, W)`` in ``[0, 1]``;
            :math:`F_i` is the pixel's value (grey) or RGB vector, in ``[0, 1]``.
        sigma_i: intensity scale :math:`\\sigma_I` (units of the image values).
        sigma_x: spatial scale :math:`\\sigma_X` (pixels).
        radius: only pixels with :math:`\\lVert X_i - X_j\\rVert < r` are joined.

    Returns:
        CSR ``(N, N)`` with ``N = H * W`` (pixels in raster order), symmetric, ``W_ii = 1``.
    """
    array = as_float_image(image)
    sigma_i, sigma_x = check_positive("sigma_i", sigma_i), check_positive("sigma_x", sigma_x)
    radius = check_positive("radius", radius)
    h, w = array.shape[:2]
    features = array.reshape(h * w, -1)
    rr, cc = np.mgrid[0:h, 0:w]
    positions = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.float64)
    # every offset (dr, dc) with length < radius, the zero offset included
    reach = int(np.ceil(radius))
    rows, cols = [], []
    for dr in range(-reach, reach + 1):
        for dc in range(-reach, reach + 1):
            if dr * dr + dc * dc >= radius * radius:
                continue
            valid = (rr + dr >= 0) & (rr + dr < h) & (cc + dc >= 0) & (cc + dc < w)
            source = (rr * w + cc)[valid]
            rows.append(source)
            cols.append(source + dr * w + dc)
    return _affinity(features, positions, np.concatenate(rows), np.concatenate(cols),
                     sigma_i, sigma_x, h * w)


def superpixel_affinity(
    image: Any, *, n_superpixels: int = 200, compactness: float = 10.0,
    sigma_i: float = 10.0, sigma_x: float | None = None, seed: int = 0,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """SLIC superpixels and the Shi-Malik affinity of adjacent ones (module docstring).

    Args:
        image: as :func:`pixel_affinity`.
        n_superpixels, compactness: passed to ``skimage.segmentation.slic``.
        sigma_i: colour scale in CIELAB units (grey: ``100 * intensity``).
        sigma_x: spatial scale in pixels; ``None``: a quarter of the image's longer side.
        seed: unused by SLIC itself (deterministic); kept for a uniform signature.

    Returns:
        ``(W, superpixels)``: CSR ``(S, S)`` affinity and the ``(H, W)`` int64 superpixel index
        ``0..S-1`` of every pixel.
    """
    del seed
    array = as_float_image(image)
    h, w = array.shape[:2]
    sigma_i = check_positive("sigma_i", sigma_i)
    sigma_x = check_positive("sigma_x", max(h, w) / 4 if sigma_x is None else sigma_x)
    # 1. superpixels, numbered 0..S-1
    superpixels = slic(array, n_segments=n_superpixels, compactness=compactness, start_label=0,
                       channel_axis=-1 if array.ndim == 3 else None)
    _, superpixels = np.unique(superpixels, return_inverse=True)
    superpixels = superpixels.reshape(h, w).astype(np.int64)
    s = int(superpixels.max()) + 1
    # 2. node features: mean CIELAB colour and centroid of each superpixel
    counts = np.bincount(superpixels.ravel(), minlength=s).astype(np.float64)
    colour = colour_features(array).reshape(h * w, -1)
    features = np.stack([np.bincount(superpixels.ravel(), weights=colour[:, c], minlength=s)
                         for c in range(colour.shape[1])], axis=1) / counts[:, None]
    rr, cc = np.mgrid[0:h, 0:w]
    positions = np.stack([np.bincount(superpixels.ravel(), weights=rr.ravel(), minlength=s),
                          np.bincount(superpixels.ravel(), weights=cc.ravel(), minlength=s)],
                         axis=1) / counts[:, None]
    # 3. edges: superpixels that touch (4-neighbour pixels with different labels), and self-loops
    pairs = np.concatenate([
        np.stack([superpixels[:, :-1].ravel(), superpixels[:, 1:].ravel()], axis=1),
        np.stack([superpixels[:-1, :].ravel(), superpixels[1:, :].ravel()], axis=1),
    ])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(np.concatenate([pairs, pairs[:, ::-1],
                                      np.repeat(np.arange(s), 2).reshape(-1, 2)]),
                      axis=0)
    return (_affinity(features, positions, pairs[:, 0], pairs[:, 1], sigma_i, sigma_x, s),
            superpixels)


def ncut_eigenvector(affinity: sp.spmatrix | np.ndarray) -> np.ndarray:
    """The generalised eigenvector ``y (N,)`` of the second smallest ``lambda`` of
    ``(D - W) y = lambda D y``.

    Solved as :math:`y = D^{-1/2} z`, ``z`` the eigenvector of the second largest eigenvalue of
    :math:`D^{-1/2} W D^{-1/2}` (= second smallest of the normalised Laplacian). Scaled so that
    :math:`y^T D y = 1`, sign chosen so that its largest-magnitude entry is positive.
    """
    w = sp.csr_matrix(affinity, dtype=np.float64)
    n = w.shape[0]
    if n < 2:
        raise ValueError(f"a graph needs at least 2 nodes to be split, got {n}")
    degree = np.asarray(w.sum(axis=1)).ravel()
    if (degree <= 0).any():
        raise ValueError("every node needs a positive degree (give each node a self-loop)")
    inv_sqrt = sp.diags(1.0 / np.sqrt(degree))
    # 1. the symmetric matrix D^-1/2 W D^-1/2 (its eigenvalues are 1 - those of the Laplacian)
    m = inv_sqrt @ w @ inv_sqrt
    # 2. its two largest eigenvectors; the second one is z
    z = None
    if n >= _DENSE_BELOW:
        start = np.linspace(1.0, 2.0, n)  # deterministic, and not an eigenvector
        try:
            values, vectors = scipy.sparse.linalg.eigsh(m, k=2, which="LA", v0=start, tol=1e-10)
            z = vectors[:, np.argsort(values)[0]]
        except scipy.sparse.linalg.ArpackNoConvergence:
            # a (nearly) repeated top eigenvalue, e.g. a disconnected graph: ARPACK can stall
            if n > _DENSE_FALLBACK_UP_TO:
                raise
    if z is None:
        _, vectors = scipy.linalg.eigh(m.toarray())  # ascending eigenvalues
        z = vectors[:, -2]
    # 3. back to the generalised problem: y = D^-1/2 z, with y^T D y = z^T z = 1
    y = z / np.sqrt(degree) / np.linalg.norm(z)
    return y if y[np.argmax(np.abs(y))] > 0 else -y


def ncut_value(affinity: sp.spmatrix | np.ndarray, in_a: np.ndarray) -> float:
    """``Ncut(A, B)`` of the partition given by the bool ``in_a (N,)`` (module docstring)."""
    w = sp.csr_matrix(affinity, dtype=np.float64)
    a = np.asarray(in_a, dtype=bool)
    degree = np.asarray(w.sum(axis=1)).ravel()
    cut = float(w[a][:, ~a].sum())
    return cut / degree[a].sum() + cut / degree[~a].sum()


def best_split(affinity: sp.spmatrix | np.ndarray,
               y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Split ``y`` at the threshold of least Ncut, among all points between its distinct values.

    Returns:
        ``(in_a (N,) bool, ncut, threshold)`` with ``in_a = y <= threshold``; ``ncut = inf`` and
        ``in_a`` all True when ``y`` is constant (no split exists).
    """
    w = sp.coo_matrix(affinity, dtype=np.float64)
    n = w.shape[0]
    degree = np.asarray(sp.csr_matrix(w).sum(axis=1)).ravel()
    # 1. sort the nodes by y; the candidate sets A_k are the k first nodes
    order = np.argsort(y, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    volume_a = np.cumsum(degree[order])  # assoc(A_k, V) for k = 1..n
    # 2. W(A_k, A_k): an entry W_ij counts for every k > max(rank_i, rank_j)
    last = np.maximum(rank[w.row], rank[w.col])
    within = np.cumsum(np.bincount(last, weights=w.data, minlength=n))
    cut = volume_a - within  # cut(A_k, B_k) = assoc(A_k, V) - W(A_k, A_k)
    # 3. Ncut for every k = 1..n-1 where y really changes between the k-th and (k+1)-th node
    ys = y[order]
    valid = ys[:-1] < ys[1:]
    if not valid.any():
        return np.ones(n, bool), float("inf"), float(ys[-1])
    volume_b = volume_a[-1] - volume_a[:-1]
    ncut = np.where(valid, cut[:-1] / volume_a[:-1] + cut[:-1] / np.where(valid, volume_b, 1.0),
                    np.inf)
    k = int(np.argmin(ncut))  # A = the first k + 1 nodes
    threshold = float((ys[k] + ys[k + 1]) / 2)
    return y <= threshold, float(ncut[k]), threshold


def recursive_ncut(
    affinity: sp.spmatrix | np.ndarray, *, max_ncut: float = 0.1, n_segments: int | None = None,
    min_size: int = 2,
) -> np.ndarray:
    """Recursive two-way normalized cut of a graph; returns labels ``(N,)`` int64 in ``1..K``.

    Args:
        affinity: ``(N, N)`` symmetric affinity with positive degrees.
        max_ncut: a segment is split only if its best split has ``Ncut < max_ncut``.
        n_segments: if given, ignore ``max_ncut`` and split, each time, the segment whose best
            split has the smallest Ncut, until there are ``n_segments`` (or nothing can be split).
        min_size: segments with fewer nodes are not split.
    """
    w = sp.csr_matrix(affinity, dtype=np.float64)
    n = w.shape[0]
    if n_segments is not None:
        check_k(n_segments, n=n, name="n_segments")
    segments = [np.arange(n)]
    final: list[np.ndarray] = []

    def split(nodes: np.ndarray) -> tuple[np.ndarray, float]:
        """Best two-way split of the subgraph on ``nodes``: (bool in A, Ncut)."""
        if len(nodes) < max(min_size, 2):
            return np.ones(len(nodes), bool), float("inf")
        sub = w[nodes][:, nodes]
        in_a, ncut, _ = best_split(sub, ncut_eigenvector(sub))
        return in_a, ncut

    if n_segments is None:
        # Shi & Malik: split every segment while the split is cheap enough
        while segments:
            nodes = segments.pop()
            in_a, ncut = split(nodes)
            if ncut < max_ncut:
                segments += [nodes[in_a], nodes[~in_a]]
            else:
                final.append(nodes)
    else:
        # k segments: always split the segment with the cheapest split
        candidates = [(nodes, *split(nodes)) for nodes in segments]
        while len(candidates) < n_segments:
            best = min(range(len(candidates)), key=lambda i: candidates[i][2])
            nodes, in_a, ncut = candidates[best]
            if not np.isfinite(ncut):
                break
            candidates.pop(best)
            candidates += [(part, *split(part)) for part in (nodes[in_a], nodes[~in_a])]
        final = [nodes for nodes, _, _ in candidates]
    # number the segments 1..K in the order of their first node
    final.sort(key=lambda nodes: int(nodes.min()))
    labels = np.zeros(n, dtype=np.int64)
    for label, nodes in enumerate(final, start=1):
        labels[nodes] = label
    return labels


def normalized_cut_segmentation(
    image: Any, *, n_segments: int | None = None, max_ncut: float = 0.1, n_superpixels: int = 200,
    compactness: float = 10.0, sigma_i: float = 10.0, sigma_x: float | None = None,
) -> np.ndarray:
    """Segment an image by recursive normalized cut on SLIC superpixels.

    Args:
        image: numpy ``(H, W)`` / ``(H, W, 3)`` or torch ``(H, W)`` / ``(C, H, W)`` in ``[0, 1]``.
        n_segments: number of segments wanted; ``None``: split while ``Ncut < max_ncut``.
        max_ncut: the recursion's threshold (used when ``n_segments`` is None).
        n_superpixels, compactness: SLIC parameters.
        sigma_i: colour scale :math:`\\sigma_I` (CIELAB units); sigma_x: spatial scale
            :math:`\\sigma_X` (pixels; ``None``: a quarter of the longer side).

    Returns:
        int64 ``(H, W)`` label image, labels ``1..K`` (no background).
    """
    # 1. superpixel graph with Shi-Malik affinities between touching superpixels
    affinity, superpixels = superpixel_affinity(
        image, n_superpixels=n_superpixels, compactness=compactness, sigma_i=sigma_i,
        sigma_x=sigma_x
    )
    if affinity.shape[0] < 2:
        return np.ones(superpixels.shape, np.int64)
    # 2. recursive two-way cuts of the graph; 3. each pixel takes its superpixel's segment
    labels = recursive_ncut(affinity, max_ncut=max_ncut,
                            n_segments=None if n_segments is None
                            else min(n_segments, affinity.shape[0]))
    return labels[superpixels]
