"""Max pooling with its indices, and max unpooling that puts each value back at its index
(SegNet, Badrinarayanan et al., TPAMI 2017), drawn on a small grid of numbers.

The indices are those of ``F.max_pool2d(..., return_indices=True)``, what SegNet's encoder
stores; the unpooled grid is :func:`segedu.nn.max_unpool2d` of the pooled values and indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from segedu.nn import max_unpool2d

from .palette import palette

__all__ = ["MaxUnpooling", "draw_max_unpooling"]


@dataclass(frozen=True)
class MaxUnpooling:
    """What :func:`draw_max_unpooling` drew.

    Attributes:
        pooled: ``(h, w)`` maxima of the windows.
        indices: ``(h, w)`` int64 flat positions ``row * W + col`` of the maxima in the input,
            as ``F.max_pool2d(..., return_indices=True)`` returns them.
        unpooled: ``(H, W)``, :func:`segedu.nn.max_unpool2d` of ``pooled`` and ``indices``.
        axes: the three panels: input, pooled with indices, unpooled.
    """

    pooled: torch.Tensor
    indices: torch.Tensor
    unpooled: torch.Tensor
    axes: tuple[Axes, Axes, Axes]


def _number_grid(ax: Axes, values: np.ndarray, colors: np.ndarray, title: str,
                 labels: list[list[str]] | None = None) -> None:
    """A grid of cells, cell ``(i, j)`` filled with ``colors[i, j]`` (RGBA) and labelled with
    ``labels[i][j]`` (the value by default)."""
    height, width = values.shape
    ax.imshow(colors, interpolation="nearest")
    for (i, j), value in np.ndenumerate(values):
        text = labels[i][j] if labels is not None else f"{value:g}"
        ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.set_xticks(np.arange(-0.5, width, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, height, 1), minor=True)
    ax.grid(which="minor", color="0.3", lw=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)


def draw_max_unpooling(x: torch.Tensor, *, kernel_size: int = 2,
                       axes: tuple[Axes, Axes, Axes] | None = None) -> MaxUnpooling:
    """Draw ``k x k`` max pooling (stride ``k``) of a small grid, its indices, and max unpooling.

    Left: the input, each window outlined in its own colour, its maximum filled. Middle: the
    pooled maxima with their flat indices ``row * W + col`` (what the encoder stores). Right:
    the unpooled grid: every maximum back at its index, zeros (grey) everywhere else.

    Args:
        x: ``(H, W)`` input, ``H`` and ``W`` multiples of ``kernel_size``; small (up to 8 x 8)
            to stay readable.
        kernel_size: window size and stride ``k``.
        axes: three axes to draw on; a new ``(10, 3.6)`` figure when ``None``.

    Returns:
        :class:`MaxUnpooling`, what was drawn.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"x must be an (H, W) tensor, got {getattr(x, 'shape', type(x))}")
    height, width = x.shape
    if height % kernel_size or width % kernel_size:
        raise ValueError(f"the input's size {tuple(x.shape)} must be a multiple of kernel_size "
                         f"{kernel_size}")
    if max(height, width) > 8:
        raise ValueError(f"the input must be at most 8 x 8 to stay readable, got {tuple(x.shape)}")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    x = x.detach().float().cpu()

    # 1. SegNet's encoder: the maxima and where they were (flat indices into the H x W plane)
    pooled, indices = F.max_pool2d(x[None, None], kernel_size, return_indices=True)
    # 2. SegNet's decoder: each maximum back at its index, zeros elsewhere
    unpooled = max_unpool2d(pooled, indices, kernel_size)[0, 0]
    pooled, indices = pooled[0, 0], indices[0, 0]

    # one colour per window; light for its cells, full for its maximum
    window_colors = palette(pooled.numel()).reshape(*pooled.shape, 3)
    block = np.kron(np.arange(pooled.numel()).reshape(pooled.shape),
                    np.ones((kernel_size, kernel_size), dtype=int))  # (H, W): window of each cell
    flat_colors = window_colors.reshape(-1, 3)
    light = 0.75 + 0.25 * flat_colors[block]  # (H, W, 3)
    is_max = np.zeros(height * width, dtype=bool)
    is_max[indices.flatten().numpy()] = True
    is_max = is_max.reshape(height, width)
    input_colors = np.where(is_max[..., None], 0.45 + 0.55 * flat_colors[block], light)
    input_ax, pooled_ax, unpooled_ax = axes
    _number_grid(input_ax, x.numpy(), input_colors,
                 f"input {height}×{width}: {kernel_size}×{kernel_size} windows, maxima filled")
    for (i, j), _ in np.ndenumerate(pooled.numpy()):
        input_ax.add_patch(Rectangle((j * kernel_size - 0.5, i * kernel_size - 0.5), kernel_size,
                                     kernel_size, fill=False, ec=window_colors[i, j], lw=2.5))
    labels = [[f"{pooled[i, j]:g}\nindex {int(indices[i, j])}" for j in range(pooled.shape[1])]
              for i in range(pooled.shape[0])]
    _number_grid(pooled_ax, pooled.numpy(), 0.45 + 0.55 * window_colors,
                 f"max pooled, with indices (row × {width} + column)", labels)
    unpooled_colors = np.where(is_max[..., None], 0.45 + 0.55 * flat_colors[block], 0.92)
    _number_grid(unpooled_ax, unpooled.numpy(), unpooled_colors,
                 "max unpooled: each value at its index")
    return MaxUnpooling(pooled, indices, unpooled, (input_ax, pooled_ax, unpooled_ax))
