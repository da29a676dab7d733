"""Anchors on a feature grid (Faster R-CNN, Ren et al., NeurIPS 2015): the cells of one feature
map drawn over the image, the position of every cell's anchors, and all the anchors of a few
positions.

The anchors are given, as :class:`segedu.ops.AnchorGenerator` returns them for one level
(position-major, row by row, then the ``A`` cell anchors of the position); the grid lines are
the borders of that level's feature cells, ``stride`` pixels apart. An anchor is centred on the
top-left corner of its cell (``(s_x j, s_y i)``, torchvision's convention), so the dots sit on
the grid's crossings; :func:`draw_anchor_grid` checks that the anchors are laid out so.
Coordinates follow :mod:`segedu.viz.boxes`: box edges in pixel edges, drawn half a pixel up and
left of ``imshow``'s pixel centres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from .boxes import draw_boxes
from .palette import palette

__all__ = ["AnchorGrid", "draw_anchor_grid"]


@dataclass(frozen=True)
class AnchorGrid:
    """What :func:`draw_anchor_grid` drew.

    Attributes:
        centres: ``(h, w, 2)`` ``(x, y)`` of each position's anchors, in image pixels.
        positions: the positions ``(row, column)`` whose anchors were drawn.
        boxes: ``(len(positions), A, 4)`` the anchors drawn, ``xyxy``.
        rectangles: the drawn anchors' rectangles, position by position.
    """

    centres: torch.Tensor
    positions: list[tuple[int, int]]
    boxes: torch.Tensor
    rectangles: list[Rectangle]


def draw_anchor_grid(
    ax: Axes,
    anchors: torch.Tensor,
    feature_size: tuple[int, int],
    stride: tuple[int, int],
    *,
    positions: Sequence[tuple[int, int]] = ((1, 1),),
    colors: Any = None,
    line_width: float = 1.2,
) -> AnchorGrid:
    """Draw one level's feature cells, its anchor positions and the anchors at ``positions``.

    Args:
        ax: an axis (typically showing the image with ``imshow``).
        anchors: ``(h * w * A, 4)`` ``xyxy`` anchors of one feature map, in the order of
            :class:`segedu.ops.AnchorGenerator` (and :func:`segedu.ops.grid_anchors`).
        feature_size: ``(h, w)`` of that feature map.
        stride: ``(s_y, s_x)`` image pixels per feature cell.
        positions: ``(row, column)`` cells whose ``A`` anchors are drawn.
        colors: ``(A, 3)`` one RGB colour per cell anchor, the same at every position;
            :func:`palette` colours by default.
        line_width: of the anchors.

    Returns:
        :class:`AnchorGrid`, what was drawn.
    """
    (h, w), (stride_y, stride_x) = feature_size, stride
    if not isinstance(anchors, torch.Tensor) or anchors.ndim != 2 or anchors.shape[1] != 4:
        raise ValueError(f"anchors must be an (h * w * A, 4) tensor, got "
                         f"{getattr(anchors, 'shape', type(anchors))}")
    if h * w == 0 or len(anchors) % (h * w):
        raise ValueError(f"{len(anchors)} anchors do not split into {h} x {w} positions")
    per_position = anchors.detach().cpu().reshape(h, w, -1, 4)  # (h, w, A, 4)
    centres = (per_position[..., :2] + per_position[..., 2:]) / 2  # (h, w, A, 2) as (x, y)
    # every anchor of a position shares its centre, the cell's top-left corner
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    corners = torch.stack([cols * stride_x, rows * stride_y], -1).to(centres.dtype)  # (h, w, 2)
    if not torch.allclose(centres, corners[:, :, None].expand_as(centres)):
        raise ValueError(f"the anchors are not centred on the corners of {stride_y} x {stride_x} "
                         "cells: wrong feature_size or stride, or not one level's anchors")
    for i, j in positions:
        if not (0 <= i < h and 0 <= j < w):
            raise ValueError(f"position {(i, j)} lies outside the {h} x {w} feature map")

    # 1. the feature cells: lines every stride pixels (on pixel edges)
    right, bottom = w * stride_x - 0.5, h * stride_y - 0.5
    ax.vlines(np.arange(w + 1) * stride_x - 0.5, -0.5, bottom, color="white", lw=0.5, alpha=0.6)
    ax.hlines(np.arange(h + 1) * stride_y - 0.5, -0.5, right, color="white", lw=0.5, alpha=0.6)
    # 2. every position's anchor centre: the grid's crossings
    ax.plot(corners[..., 0].flatten() - 0.5, corners[..., 1].flatten() - 0.5, ".", color="white",
            ms=4)
    # 3. all anchors of the chosen positions, one colour per cell anchor
    colors = palette(per_position.shape[2]) if colors is None else colors
    drawn = torch.stack([per_position[i, j] for i, j in positions])  # (P, A, 4)
    rectangles = []
    for boxes in drawn:
        for rect in draw_boxes(ax, boxes, colors=colors):
            rect.set_linewidth(line_width)
            rectangles.append(rect)
    return AnchorGrid(corners, [tuple(p) for p in positions], drawn, rectangles)
