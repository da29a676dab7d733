r"""The receptive field growing through a stack of layers, drawn in one dimension.

Each row is a feature map, the input at the bottom; a cell is drawn at its centre in input
pixels, so the cells of deeper maps lie ``jump`` pixels apart. For the middle cell of the top
map, every cell it depends on is filled, level by level down to the input, and lines join each
filled cell to the taps of its kernel: the cone of the receptive field, with the holes that
dilation leaves. The filled cells are measured by back-propagating through a real
one-dimensional stack of ``conv1d`` layers (kernel of ones, so no tap is zero by accident); the
label of each row is :func:`segedu.nn.receptive_field` of the layers up to it, and the tests
check that the extent drawn at the input equals it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from segedu.nn import conv_output_size, receptive_field

from .palette import palette

__all__ = ["ReceptiveFieldDrawing", "draw_receptive_field"]


@dataclass(frozen=True)
class ReceptiveFieldDrawing:
    """What :func:`draw_receptive_field` drew.

    Attributes:
        depends: one boolean array per map, input first: the cells that the top map's middle
            cell depends on (measured by back-propagation).
        centres: one float array per map: each cell's centre, in input pixels.
        sizes: :func:`segedu.nn.receptive_field` size after each layer (the row labels).
        jumps: the effective stride after each layer.
        ax: the axis drawn on.
    """

    depends: list[np.ndarray]
    centres: list[np.ndarray]
    sizes: list[int]
    jumps: list[int]
    ax: Axes


def _check_layers(layers: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    if not layers:
        raise ValueError("layers must hold at least one (kernel_size, stride, dilation) tuple")
    checked = []
    for layer in layers:
        if (not isinstance(layer, tuple | list) or len(layer) != 3
                or not all(isinstance(v, int) and v >= 1 for v in layer)):
            raise ValueError("each layer must be a (kernel_size, stride, dilation) tuple of "
                             f"positive ints, got {layer!r}")
        checked.append(tuple(layer))
    return checked


def draw_receptive_field(layers: Sequence[tuple[int, int, int]], *,
                         names: Sequence[str] | None = None, top_cells: int = 3,
                         ax: Axes | None = None) -> ReceptiveFieldDrawing:
    """Draw the cone of input cells that one output cell of a stack of layers depends on.

    Args:
        layers: ``(kernel_size, stride, dilation)`` of each layer, first layer first (a pooling
            layer counts as its window: ``(2, 2, 1)`` for 2x2 pooling).
        names: a row label per layer; ``"k3 s1 d1"`` style by default.
        top_cells: cells of the top map drawn (the middle one is traced); the input is made just
            long enough for them.
        ax: the axis to draw on; a new figure when ``None``.

    Returns:
        :class:`ReceptiveFieldDrawing`, what was drawn.
    """
    layers = _check_layers(layers)
    if names is not None and len(names) != len(layers):
        raise ValueError(f"names must have one entry per layer ({len(layers)}), got {len(names)}")
    if not isinstance(top_cells, int) or top_cells < 1:
        raise ValueError(f"top_cells must be a positive int, got {top_cells!r}")
    names = list(names) if names is not None else [f"k{k} s{s} d{d}" for k, s, d in layers]
    formula = receptive_field(layers)
    sizes = [row[4] for row in formula.layers]
    jumps = [row[5] for row in formula.layers]

    # 1. an input just long enough for `top_cells` outputs: one receptive field, then a jump each
    length = formula.size + (top_cells - 1) * formula.stride
    maps = [torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)]
    for kernel, stride, dilation in layers:
        weight = torch.ones(1, 1, kernel, dtype=torch.float64)
        out = F.conv1d(maps[-1], weight, stride=stride, dilation=dilation)
        assert out.shape[-1] == conv_output_size(maps[-1].shape[-1], kernel, stride=stride,
                                                 dilation=dilation)
        out.retain_grad()
        maps.append(out)
    for m in maps:
        m.retain_grad()
    # 2. which cells of each map the middle top cell depends on: where its gradient is not zero
    maps[-1][0, 0, maps[-1].shape[-1] // 2].backward()
    depends = [(m.grad[0, 0] != 0).numpy() for m in maps]

    # 3. cell centres in input pixels: a kernel's output sits at the middle of its taps
    centres, offset, jump = [np.arange(length, dtype=float)], 0.0, 1
    for (kernel, stride, dilation), m in zip(layers, maps[1:], strict=True):
        offset += (kernel - 1) * dilation * jump / 2  # half the kernel's span, in input pixels
        jump *= stride  # neighbouring cells of this map are `jump` input pixels apart
        centres.append(offset + jump * np.arange(m.shape[-1]))

    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.32 * length + 3), 0.75 * len(maps) + 0.8))
    color = palette(2)[1]
    # 4. lines from every traced cell to the taps of its kernel in the map below
    for level, (kernel, stride, dilation) in enumerate(layers, start=1):
        for p in np.flatnonzero(depends[level]):
            for t in range(kernel):
                q = p * stride + t * dilation
                ax.plot([centres[level][p], centres[level - 1][q]], [level - 0.3, level - 0.7],
                        color=color, lw=0.8, alpha=0.6)
    # 5. the cells, filled where traced
    for level, (cells, traced) in enumerate(zip(centres, depends, strict=True)):
        for c, on in zip(cells, traced, strict=True):
            ax.add_patch(Rectangle((c - 0.4, level - 0.3), 0.8, 0.6, ec="0.3", lw=0.8,
                                   fc=color if on else "white"))
        label = "input" if level == 0 else names[level - 1]
        ax.text(-1.0, level, label, ha="right", va="center", fontsize=8)
        if level:
            ax.text(length, level, f"r = {sizes[level - 1]}, jump {jumps[level - 1]}",
                    ha="left", va="center", fontsize=8)
    # 6. the receptive field's extent at the input
    traced = np.flatnonzero(depends[0])
    left, right = traced.min() - 0.4, traced.max() + 0.4
    ax.annotate("", xy=(left, -0.55), xytext=(right, -0.55),
                arrowprops={"arrowstyle": "<->", "color": "0.2", "lw": 1})
    ax.text((left + right) / 2, -0.75, f"{traced.max() - traced.min() + 1} input pixels",
            ha="center", va="top", fontsize=8)
    ax.set_xlim(-6.5, length + 6)
    ax.set_ylim(-1.3, len(maps) - 0.4)
    ax.axis("off")
    return ReceptiveFieldDrawing(depends, centres, sizes, jumps, ax)
