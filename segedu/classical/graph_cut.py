r"""Binary segmentation by s-t minimum cut (graph cut), after Boykov & Jolly 2001.

Boykov & Jolly, "Interactive graph cuts for optimal boundary & region segmentation of objects
in N-D images", ICCV 2001. Each pixel ``p`` gets a label :math:`L_p \in \{0, 1\}` (background,
foreground) minimising the energy

.. math::

    E(L) = \sum_p D_p(L_p) \;+\; \sum_{(p, q) \in \mathcal{N}} B_{pq}\, [L_p \ne L_q],
    \qquad B_{pq} = \lambda \exp\!\Big(-\frac{(I_p - I_q)^2}{2 \sigma^2}\Big),

with :math:`\mathcal{N}` the pairs of 4-neighbours (each pair once). The *unary* (region) term
:math:`D_p(\ell) = -\log \Pr(I_p \mid \ell)` is the negative log-likelihood of the pixel's
intensity under the foreground or background model; the *pairwise* (boundary) term is a Potts
penalty for cutting between neighbours, cheap where the intensity jumps (an edge), dear where it
is flat. Boykov & Jolly divide :math:`B_{pq}` by the distance between ``p`` and ``q``, which is 1
on the 4-neighbourhood.

**Intensity models** (this module's choice, on the grey intensity; colour images are converted
to grey). ``model="gaussian"``: :math:`\Pr(I \mid \ell) = \mathcal{N}(I; \mu_\ell, s_\ell^2)`;
``model="histogram"``: a normalised histogram of ``bins`` bins over ``[0, 1]`` with one count added
to every bin (so that no intensity is impossible), as the histograms of Boykov & Jolly. The
models are fitted on the seed pixels when ``seeds`` are given (``1`` foreground, ``2``
background, ``0`` unknown; the seeds are also *hard constraints*: they keep their label), or
else on the two classes of Otsu's threshold (foreground = brighter). Fitted that way, each
sample is cut at the threshold, so the two models overlap less than the true classes do (the
histograms hardly at all): the unary terms alone then reproduce the threshold, and it is the
boundary term (a large enough ``lam``) that corrects the noisy pixels; seeds avoid this bias.

**As a minimum cut.** Build a graph with a node per pixel, a source ``s`` (foreground) and a sink
``t`` (background); a pixel on the source side of a cut is foreground. Edge ``s -> p`` has
capacity :math:`D_p(0)` (paid when ``p`` ends up background), edge ``p -> t`` capacity
:math:`D_p(1)`, and neighbours are joined both ways with :math:`B_{pq}`. The capacity of an s-t
cut is then exactly :math:`E(L)`, so the minimum cut (max-flow, Boykov-Kolmogorov algorithm,
PyMaxflow) is the labelling of least energy: a global optimum, not a local one. Capacities must
be non-negative: subtracting :math:`\min(D_p(0), D_p(1))` from both terms of a pixel changes every
labelling's energy by the same constant, so it changes nothing else.

``sigma`` defaults to the root mean square of the differences between 4-neighbours, so that
:math:`B_{pq}` is :math:`\lambda e^{-1/2}` for a typical step (as the :math:`\beta` of GrabCut).
"""

from __future__ import annotations

from typing import Any

import maxflow
import numpy as np
from skimage.filters import threshold_otsu

from ._checks import _to_numpy, as_grey, check_positive

__all__ = [
    "graph_cut",
    "graph_cut_segmentation",
    "binary_energy",
    "potts_weights",
    "intensity_unaries",
    "MODELS",
]

MODELS = ("gaussian", "histogram")
_HARD = 1e9  # the capacity that makes a seed's label a hard constraint


def potts_weights(
    image: np.ndarray, *, lam: float = 1.0, sigma: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Pairwise weights :math:`B_{pq} = \lambda \exp(-(I_p - I_q)^2 / (2\sigma^2))` of a grey
    image.

    Args:
        image: float ``(H, W)`` grey image.
        lam: :math:`\lambda \ge 0`, the weight of the boundary term.
        sigma: the intensity scale; ``None``: RMS of the 4-neighbour differences.

    Returns:
        ``(right (H, W-1), down (H-1, W))``: the weight between ``(r, c)`` and ``(r, c+1)``, and
        between ``(r, c)`` and ``(r+1, c)``.
    """
    dx = image[:, 1:] - image[:, :-1]  # horizontal neighbour differences
    dy = image[1:, :] - image[:-1, :]  # vertical neighbour differences
    if sigma is None:
        squares = np.concatenate([dx.ravel() ** 2, dy.ravel() ** 2])
        mean_square = float(squares.mean()) if squares.size else 0.0
        sigma = np.sqrt(mean_square) if mean_square > 0 else 1.0
    sigma = check_positive("sigma", sigma)
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return (
        lam * np.exp(-(dx**2) / (2 * sigma**2)),
        lam * np.exp(-(dy**2) / (2 * sigma**2)),
    )


def binary_energy(
    labels: np.ndarray,
    unary_background: np.ndarray,
    unary_foreground: np.ndarray,
    right: np.ndarray,
    down: np.ndarray,
) -> float:
    """:math:`E(L)`: the unary terms of the chosen labels plus the weights of the cut neighbour
    pairs.

    ``labels`` is ``(H, W)`` with 1 foreground, 0 background; the unaries are ``(H, W)``; ``right``
    ``(H, W-1)`` and ``down`` ``(H-1, W)`` as returned by :func:`potts_weights`.
    """
    fg = np.asarray(labels).astype(bool)
    unary = np.where(fg, unary_foreground, unary_background).sum()
    pairwise = (right * (fg[:, 1:] != fg[:, :-1])).sum() + (down * (fg[1:, :] != fg[:-1, :])).sum()
    return float(unary + pairwise)


def graph_cut(
    unary_background: np.ndarray,
    unary_foreground: np.ndarray,
    right: np.ndarray,
    down: np.ndarray,
) -> np.ndarray:
    """The labelling of least :func:`binary_energy`, by max-flow / min-cut (PyMaxflow).

    Args:
        unary_background, unary_foreground: ``(H, W)`` costs :math:`D_p(0)`, :math:`D_p(1)`
            (any real values; shifted per pixel to be non-negative).
        right, down: ``(H, W-1)`` and ``(H-1, W)`` non-negative pairwise weights.

    Returns:
        int64 ``(H, W)``: 1 foreground (source side), 0 background (sink side).
    """
    d0 = np.asarray(unary_background, dtype=np.float64)
    d1 = np.asarray(unary_foreground, dtype=np.float64)
    h, w = d0.shape
    if d1.shape != (h, w) or right.shape != (h, w - 1) or down.shape != (h - 1, w):
        raise ValueError(
            f"shapes must be (H, W), (H, W), (H, W-1), (H-1, W); got {d0.shape}, {d1.shape}, "
            f"{right.shape}, {down.shape}"
        )
    if (right < 0).any() or (down < 0).any():
        raise ValueError("pairwise weights must be non-negative")
    # 1. non-negative terminal capacities: remove the smaller of the two costs of each pixel
    low = np.minimum(d0, d1)
    d0, d1 = d0 - low, d1 - low
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes((h, w))
    # 2. terminal edges: s -> p costs D_p(0) when cut (p background), p -> t costs D_p(1)
    graph.add_grid_tedges(nodes, d0, d1)
    # 3. neighbour edges, both directions, B_pq to the right and downwards
    to_right = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
    to_down = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    graph.add_grid_edges(nodes, weights=np.pad(right, ((0, 0), (0, 1))), structure=to_right,
                         symmetric=True)
    graph.add_grid_edges(nodes, weights=np.pad(down, ((0, 1), (0, 0))), structure=to_down,
                         symmetric=True)
    # 4. max-flow; the pixels left on the source side are foreground
    graph.maxflow()
    return (~graph.get_grid_segments(nodes)).astype(np.int64)


def _negative_log_likelihood(
    grey: np.ndarray, sample: np.ndarray, model: str, bins: int
) -> np.ndarray:
    """``-log Pr(I_p | model fitted on sample)`` for every pixel, ``(H, W)``."""
    if model == "gaussian":
        mean = float(sample.mean())
        var = max(float(sample.var()), 1e-4)  # a flat sample would give an infinitely sharp model
        return 0.5 * np.log(2 * np.pi * var) + (grey - mean) ** 2 / (2 * var)
    counts, _ = np.histogram(sample, bins=bins, range=(0.0, 1.0))
    probability = (counts + 1.0) / (counts.sum() + bins)  # one count added to every bin
    which = np.clip((grey * bins).astype(np.int64), 0, bins - 1)
    return -np.log(probability[which])


def intensity_unaries(
    grey: np.ndarray, *, seeds: np.ndarray | None = None, model: str = "gaussian", bins: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Unary terms ``(D(0), D(1))``, each ``(H, W)``, from intensity models (module docstring).

    ``seeds``: ``(H, W)`` integers, 1 foreground, 2 background, 0 unknown; ``None``: the models
    are fitted on the two sides of Otsu's threshold. Seed pixels get a hard constraint.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if seeds is None:
        threshold = threshold_otsu(grey) if grey.min() < grey.max() else grey.max()
        fg_sample, bg_sample = grey[grey > threshold], grey[grey <= threshold]
    else:
        fg_sample, bg_sample = grey[seeds == 1], grey[seeds == 2]
    if fg_sample.size == 0 or bg_sample.size == 0:
        raise ValueError("both the foreground and the background need at least one seed pixel")
    d0 = _negative_log_likelihood(grey, bg_sample, model, bins)
    d1 = _negative_log_likelihood(grey, fg_sample, model, bins)
    if seeds is not None:
        # hard constraints: a foreground seed can never be background, and the reverse
        d0 = np.where(seeds == 1, _HARD, d0)
        d1 = np.where(seeds == 2, _HARD, d1)
    return d0, d1


def graph_cut_segmentation(
    image: Any,
    *,
    lam: float = 1.0,
    sigma: float | None = None,
    seeds: Any = None,
    model: str = "gaussian",
    bins: int = 32,
) -> np.ndarray:
    """Foreground/background segmentation by graph cut (Boykov & Jolly 2001).

    Args:
        image: numpy ``(H, W)`` / ``(H, W, 3)`` or torch ``(H, W)`` / ``(C, H, W)`` in ``[0, 1]``
            (colour is converted to grey).
        lam: :math:`\\lambda`, weight of the Potts boundary term (0: per-pixel decision).
        sigma: intensity scale of the boundary term; ``None``: RMS neighbour difference.
        seeds: optional ``(H, W)`` integers: 1 foreground, 2 background, 0 unknown.
        model: ``"gaussian"`` or ``"histogram"`` intensity models.
        bins: number of histogram bins (``model="histogram"``).

    Returns:
        int64 ``(H, W)``: 1 foreground, 0 background.
    """
    grey = as_grey(image)
    seed_array = None
    if seeds is not None:
        seed_array = _to_numpy("seeds", seeds)
        if seed_array.shape != grey.shape:
            raise ValueError(f"seeds must have shape {grey.shape}, got {seed_array.shape}")
        if not np.isin(seed_array, (0, 1, 2)).all():
            raise ValueError("seeds must hold 0 (unknown), 1 (foreground) and 2 (background)")
    # 1. unary terms from the intensity models
    d0, d1 = intensity_unaries(grey, seeds=seed_array, model=model, bins=bins)
    # 2. Potts pairwise weights on the 4-neighbourhood
    right, down = potts_weights(grey, lam=lam, sigma=sigma)
    # 3. the minimum cut
    return graph_cut(d0, d1, right, down)
