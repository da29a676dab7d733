"""Colours for classes and for instances.

Two different needs:

- :func:`palette`: one colour per *class*, the same in every figure of the course. A fixed
  hand-picked list of well-separated colours comes first, then more colours by farthest-point
  sampling. ``palette(n)[:k]`` equals ``palette(k)``: a class keeps its colour whatever ``n``.
- :func:`instance_colors`: one colour per *instance* of a single image, where two touching objects
  must never look alike, so all of them must be far apart; farthest-point sampling from a random
  (seeded) first colour.
- :func:`shades`: shades of one class colour (same hue, other lightness) for the instances of
  that class in a panoptic overlay.

Farthest-point sampling: from a dense set of candidate colours, repeatedly take the candidate
whose distance to its nearest already-chosen colour is largest. Every new colour lands in the
biggest gap left by the others, so the smallest distance between two colours stays large
(measured on 20 colours: at least 0.3 apart in RGB, against 0.09 for the same base colours
extended by a golden-ratio hue walk).

All colours are ``(n, 3)`` float64 arrays of RGB values in ``[0, 1]``.
"""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

__all__ = ["palette", "instance_colors", "shades", "check_colors", "BASE_COLORS"]

#: Hand-picked, well-separated, saturated colours (RGB in [0, 1]) for the first classes.
BASE_COLORS = np.array(
    [
        [0.90, 0.10, 0.10],  # red
        [0.10, 0.45, 0.90],  # blue
        [0.15, 0.70, 0.20],  # green
        [1.00, 0.60, 0.00],  # orange
        [0.60, 0.20, 0.80],  # purple
        [0.00, 0.80, 0.80],  # cyan
        [1.00, 0.90, 0.10],  # yellow
        [0.95, 0.40, 0.70],  # pink
        [0.55, 0.35, 0.15],  # brown
        [0.50, 0.50, 0.50],  # grey
        [0.60, 0.90, 0.30],  # lime
        [0.10, 0.15, 0.55],  # navy
    ]
)


def _check_count(n: int) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")


def _candidate_colors() -> np.ndarray:
    """A dense set of colours to pick from: 72 hues x 4 lightness x 2 saturation levels."""
    candidates = [
        colorsys.hls_to_rgb(hue, lightness, saturation)
        for hue in np.arange(72) / 72
        for lightness in (0.3, 0.45, 0.6, 0.75)
        for saturation in (0.6, 1.0)
    ]
    return np.asarray(candidates)


def _farthest_points(candidates: np.ndarray, chosen: np.ndarray, n: int) -> np.ndarray:
    """Extend the colours ``chosen`` ``(k, 3)`` to ``n`` by farthest-point sampling."""
    colors = list(chosen)
    # distance of every candidate to its nearest chosen colour
    nearest = np.full(len(candidates), np.inf)
    for color in colors:
        nearest = np.minimum(nearest, np.linalg.norm(candidates - color, axis=1))
    while len(colors) < n:
        # the candidate farthest from every colour so far
        best = candidates[int(nearest.argmax())]
        colors.append(best)
        nearest = np.minimum(nearest, np.linalg.norm(candidates - best, axis=1))
    return np.asarray(colors, dtype=np.float64).reshape(-1, 3)[:n]


def palette(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` class colours ``(n, 3)`` in ``[0, 1]``.

    ``seed=0`` gives :data:`BASE_COLORS` in order, then farthest-point colours; another seed
    shuffles the base colours first (reproducible, but a different look). Colours repeat only
    beyond the 576 candidates.
    """
    _check_count(n)
    rng = np.random.default_rng(seed)
    # 1. the hand-picked colours (shuffled unless seed == 0)
    base = BASE_COLORS if seed == 0 else BASE_COLORS[rng.permutation(len(BASE_COLORS))]
    # 2. more colours in the largest gaps, 3. and repetition once all candidates are used
    candidates = _candidate_colors()
    unique = _farthest_points(candidates, base, min(n, len(candidates) + len(base)))
    return unique[np.arange(n) % max(len(unique), 1)].reshape(n, 3)


def instance_colors(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` instance colours ``(n, 3)`` in ``[0, 1]``, pairwise as far apart as possible.

    The first colour is a candidate drawn with ``seed``, each next one maximises its distance
    to the nearest colour already chosen. Colours repeat only beyond the 576 candidates.
    """
    _check_count(n)
    if n == 0:
        return np.zeros((0, 3))
    candidates = _candidate_colors()
    rng = np.random.default_rng(seed)
    # 1. a random first colour, 2. farthest-point sampling for the rest
    first = candidates[int(rng.integers(len(candidates)))][None]
    unique = _farthest_points(candidates, first, min(n, len(candidates)))
    # 3. repeat in the same order once all candidates are used
    return unique[np.arange(n) % len(unique)]


def shades(color: np.ndarray, n: int) -> np.ndarray:
    """``n`` shades ``(n, 3)`` of one RGB ``color``: same hue and saturation, lightness spread
    over ``[0.25, 0.8]`` along a golden-ratio walk (each next shade falls in the largest gap)."""
    _check_count(n)
    rgb = np.asarray(color, dtype=np.float64).reshape(3)
    hue, _, saturation = colorsys.rgb_to_hls(*rgb)
    golden = (5**0.5 - 1) / 2  # successive multiples mod 1 spread evenly over [0, 1)
    lightness = 0.25 + 0.55 * ((0.5 + np.arange(n) * golden) % 1.0)
    return np.asarray([colorsys.hls_to_rgb(hue, value, saturation) for value in lightness]).reshape(
        n, 3
    )


def check_colors(colors: Any, n: int, name: str = "colors") -> np.ndarray:
    """User-given ``colors`` -> float ``(K, 3)`` in ``[0, 1]`` with ``K >= n``; ``name`` is quoted
    in errors."""
    array = np.asarray(colors, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (K, 3), got {array.shape}")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must be RGB values in [0, 1]")
    if len(array) < n:
        raise ValueError(f"{name} has {len(array)} colours but {n} are needed")
    return array
