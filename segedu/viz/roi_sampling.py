"""RoIPool's rounded bins against RoIAlign's exact bins and sampling points (He et al., *Mask
R-CNN*, ICCV 2017, figure 3), drawn from the ops themselves.

The bins come from :func:`segedu.ops.roi_pool_bins` and the points from
:func:`segedu.ops.roi_align_sampling_points`, the functions that
:func:`segedu.ops.roi_pool_reference` and :func:`segedu.ops.roi_align_reference` pool with;
the numbers written in each bin are :func:`segedu.ops.roi_pool`'s and
:func:`segedu.ops.roi_align`'s outputs. So the picture shows where the ops read, not a retyped
formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from segedu.ops import roi_align, roi_align_sampling_points, roi_pool, roi_pool_bins

from .palette import palette

__all__ = ["RoiSampling", "draw_roi_sampling"]

#: A light box behind the numbers, readable on dark cells too.
LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}


@dataclass(frozen=True)
class RoiSampling:
    """What :func:`draw_roi_sampling` drew.

    Attributes:
        pool_rows, pool_cols: RoIPool's bins, half-open ``(start, end)`` cell ranges
            (:func:`segedu.ops.roi_pool_bins`).
        align_ys, align_xs: RoIAlign's sample coordinates ``(oh, g)`` and ``(ow, g)``
            (:func:`segedu.ops.roi_align_sampling_points`).
        pooled, aligned: ``(oh, ow)`` outputs of :func:`segedu.ops.roi_pool` and
            :func:`segedu.ops.roi_align`, the numbers written in the bins.
        axes: the two panels, RoIPool then RoIAlign.
    """

    pool_rows: list[tuple[int, int]]
    pool_cols: list[tuple[int, int]]
    align_ys: torch.Tensor
    align_xs: torch.Tensor
    pooled: torch.Tensor
    aligned: torch.Tensor
    axes: tuple[Axes, Axes]


def _feature_panel(ax: Axes, feature: torch.Tensor, box: torch.Tensor, title: str) -> None:
    """The feature map in grey (cell ``(i, j)`` centred on the point ``(i, j)``), its cell
    borders, and the box dashed."""
    height, width = feature.shape
    ax.imshow(feature.numpy(), cmap="Greys", vmin=-0.5, vmax=1.5)
    ax.set_xticks(np.arange(-0.5, width, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, height, 1), minor=True)
    ax.set_xticks(np.arange(width))
    ax.set_yticks(np.arange(height))
    ax.tick_params(labelsize=7, length=0)
    ax.grid(which="minor", color="white", lw=1)
    x1, y1, x2, y2 = box.tolist()
    ax.add_patch(
        Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="black", lw=2.5, ls="--",
                  label="the box")
    )
    ax.set_title(title, fontsize=10)


def draw_roi_sampling(
    feature: torch.Tensor,
    box: torch.Tensor,
    *,
    output_size: int = 2,
    sampling_ratio: int = 2,
    axes: tuple[Axes, Axes] | None = None,
) -> RoiSampling:
    """Draw, side by side, what RoIPool and RoIAlign read from a feature map for one box.

    Left: RoIPool rounds the box to whole cells and its bins to whole cells (drawn slightly
    inset, so that bins which overlap by a cell stay visible), and takes each bin's maximum.
    Right: RoIAlign's exact bins, each with its ``sampling_ratio x sampling_ratio`` sampling
    points, whose bilinear values it averages. Both use ``spatial_scale=1`` (the box is given in
    feature cells) and ``aligned=False``, the Mask R-CNN paper's setting.

    Args:
        feature: ``(H, W)`` one-channel feature map.
        box: ``(4,)`` ``[x1, y1, x2, y2]`` in feature cells (cell ``(i, j)`` is the point
            ``(y, x) = (i, j)``).
        output_size: bins per side, ``oh = ow``.
        sampling_ratio: sampling points per bin along each axis.
        axes: two axes to draw on; a new ``(10, 4.8)`` figure when ``None``.

    Returns:
        :class:`RoiSampling`, what was drawn.
    """
    if not isinstance(feature, torch.Tensor) or feature.ndim != 2:
        raise ValueError(
            f"feature must be an (H, W) tensor, got {getattr(feature, 'shape', type(feature))}"
        )
    feature = feature.detach().float().cpu()
    box = torch.as_tensor(box, dtype=feature.dtype)
    if box.shape != (4,):
        raise ValueError(f"box must be a (4,) tensor [x1, y1, x2, y2], got {tuple(box.shape)}")
    if float(box[2] - box[0]) < 1 or float(box[3] - box[1]) < 1:
        raise ValueError(
            f"the box must be at least one cell wide and high to draw, got {box.tolist()}"
        )
    if sampling_ratio <= 0:
        raise ValueError(f"sampling_ratio must be positive to draw points, got {sampling_ratio}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    pool_ax, align_ax = axes

    # where the ops read: the functions their readable versions pool with
    rows, cols = roi_pool_bins(box, output_size, 1.0, tuple(feature.shape))
    ys, xs = roi_align_sampling_points(box, output_size, 1.0, sampling_ratio, aligned=False)
    # what they return (torchvision's kernels), written into the bins
    pooled = roi_pool(feature[None, None], [box[None]], output_size)[0, 0]
    aligned = roi_align(feature[None, None], [box[None]], output_size, 1.0, sampling_ratio)[0, 0]

    colors = palette(output_size * output_size)
    _feature_panel(pool_ax, feature, box, "RoIPool: box and bins rounded to cells, max")
    _feature_panel(align_ax, feature, box, "RoIAlign: exact bins, bilinear samples, mean")
    for i, (top, bottom) in enumerate(rows):
        for j, (left, right) in enumerate(cols):
            b = i * output_size + j
            inset = 0.06 * b  # overlapping bins side by side
            pool_ax.add_patch(
                Rectangle((left - 0.5 + inset, top - 0.5 + inset), right - left - 2 * inset,
                          bottom - top - 2 * inset, fill=False, ec=colors[b], lw=2)
            )
            pool_ax.text(left - 0.4 + inset, top - 0.15 + inset, f"max {pooled[i, j]:.2f}",
                         color=colors[b], fontsize=8, fontweight="bold", bbox=LABEL_BOX)
    x1, y1, x2, y2 = box.tolist()
    bin_h, bin_w = (y2 - y1) / output_size, (x2 - x1) / output_size
    for i in range(output_size):
        for j in range(output_size):
            b = i * output_size + j
            align_ax.add_patch(
                Rectangle((x1 + j * bin_w, y1 + i * bin_h), bin_w, bin_h, fill=False,
                          ec=colors[b], lw=2)
            )
            grid_y, grid_x = torch.meshgrid(ys[i], xs[j], indexing="ij")  # the bin's samples
            align_ax.scatter(grid_x.flatten(), grid_y.flatten(), color=colors[b], s=30, zorder=3)
            align_ax.text(x1 + (j + 0.5) * bin_w, y1 + (i + 0.5) * bin_h,  # between the points
                          f"mean {aligned[i, j]:.2f}", color=colors[b], fontsize=8,
                          fontweight="bold", ha="center", va="center", bbox=LABEL_BOX)
    pool_ax.legend(loc="lower right", fontsize=8)
    return RoiSampling(rows, cols, ys, xs, pooled, aligned, (pool_ax, align_ax))
