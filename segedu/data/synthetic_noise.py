"""Smooth random fields, the raw material of the synthetic textures.

A smooth random field is white noise on a coarse grid, blended into every pixel with Gaussian
weights. Blending is linear, so the whole field is two matrix products::

    field = Wy @ G @ Wx.T        # (H, gy) @ (gy, gx) @ (gx, W) -> (H, W)

where ``G`` holds standard normal values on a grid with spacing ``scale`` pixels and ``Wy``,
``Wx`` hold the Gaussian weight of each grid line for each pixel row / column. Each row of the
weight matrices is scaled to unit Euclidean norm, which makes every pixel of the field exactly
standard normal: the field has mean 0 and variance 1 everywhere, and two pixels ``d`` apart have
correlation about ``exp(-d^2 / (4 scale^2))``: alike when closer than ``scale``, unrelated beyond
a few ``scale``. No per-pixel Python loop is involved, so a 1024 x 1024 field takes a
few milliseconds. The big product runs in torch: numpy's BLAS starts threads of its own that
fight torch's threads for the cores and can make it ten times slower on a busy machine.

:func:`white_noise` is independent noise per pixel; uniform rather than Gaussian because it is
several times cheaper to draw, and nobody can tell the difference in an image.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = ["smooth_noise", "white_noise"]


@functools.lru_cache(maxsize=64)
def _blend_weights(n: int, scale: float) -> torch.Tensor:
    """Weights ``(n, g)`` of ``g`` grid lines (spacing ``scale``) for ``n`` pixel centres.

    Cached, since a data set asks for the same few sizes over and over (never modify the result).
    """
    # grid lines from one spacing before the first pixel to past the last one
    g = int(math.ceil(n / scale)) + 3
    centres = (np.arange(g) - 1.0) * scale
    pixels = np.arange(n) + 0.5
    # Gaussian weight of every grid line for every pixel, sigma = the grid spacing
    w = np.exp(-0.5 * ((pixels[:, None] - centres[None, :]) / scale) ** 2)
    # unit norm per pixel, so that a weighted sum of N(0, 1) values is again N(0, 1)
    w /= np.sqrt((w**2).sum(axis=1, keepdims=True))
    return torch.from_numpy(w.astype(np.float32))


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], scale: float | tuple[float, float]
) -> np.ndarray:
    """A smooth standard-normal random field of ``shape`` ``(H, W)``, float32.

    ``scale`` is the correlation length in pixels (> 0): features of the field are about that big.
    A pair ``(scale_y, scale_x)`` gives stretched features (e.g. clouds wider than tall).
    """
    h, w = shape
    if h < 1 or w < 1:
        raise ValueError(f"shape must be two positive sizes, got {shape}")
    sy, sx = (scale, scale) if np.isscalar(scale) else scale
    if not (sy > 0 and sx > 0):
        raise ValueError(f"scale must be > 0 pixels, got {scale}")
    wy = _blend_weights(h, float(sy))  # (H, gy)
    wx = _blend_weights(w, float(sx))  # (W, gx)
    grid = rng.standard_normal((wy.shape[1], wx.shape[1]), dtype=np.float32)  # (gy, gx)
    return (wy @ torch.from_numpy(grid) @ wx.T).numpy()  # (H, W)


def white_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent noise of mean 0 and variance 1 per element (uniform on +-sqrt(3)), float32."""
    u = rng.random(shape, dtype=np.float32)
    return (u - np.float32(0.5)) * np.float32(2 * math.sqrt(3))
