"""Dilated and transposed convolutions on a grid: which input pixels feed one output pixel.

A dilated (atrous) convolution has holes *in the kernel*: one output pixel reads ``K x K``
input pixels ``D`` apart, and the output keeps the input's size. A transposed convolution has
holes *in the input*: each input pixel stamps the kernel onto the output, ``S`` pixels apart,
so an output pixel is fed by one, two or four input pixels depending on where it lies between
the stamps, and the output is about ``S`` times larger.

The pixels drawn are measured, not computed from a formula: :func:`feeding_pixels` runs the
operation (``F.conv2d`` with ``dilation``, :func:`segedu.nn.conv_transpose2d_scatter`) on a
random input and back-propagates from one output pixel; the input pixels with a non-zero
gradient are the ones it depends on. Grid sizes come from :mod:`segedu.nn.arithmetic`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from segedu.nn import conv_output_size, conv_transpose2d_scatter, conv_transpose_output_size

__all__ = ["ConvGrid", "feeding_pixels", "draw_dilated_conv", "draw_transposed_conv"]

#: Colours of the traced output pixels of the transposed convolution, in order.
PROBE_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:green")


@dataclass(frozen=True)
class ConvGrid:
    """What :func:`draw_dilated_conv` or :func:`draw_transposed_conv` drew.

    Attributes:
        feeding: one ``(n, n)`` boolean mask of the input per traced output pixel.
        pixels: the traced output pixels ``(row, column)``.
        in_size, out_size: the input's and the output's side.
        axes: the two panels: input, output.
    """

    feeding: list[torch.Tensor]
    pixels: list[tuple[int, int]]
    in_size: int
    out_size: int
    axes: tuple[Axes, Axes]


def feeding_pixels(
    op: Callable[[torch.Tensor], torch.Tensor], in_size: int, pixel: tuple[int, int], *,
    seed: int = 0,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input pixels that one output pixel of ``op`` depends on.

    Args:
        op: maps a ``(1, 1, n, n)`` float64 tensor to a ``(1, 1, h, w)`` one.
        in_size: the input's side ``n``.
        pixel: ``(row, column)`` of the output pixel.
        seed: of the random input (positive values, so no product vanishes by accident).

    Returns:
        ``(mask, (h, w))``: the ``(n, n)`` boolean mask of the input pixels where the gradient
        of that output pixel is not zero, and the output's size.
    """
    generator = torch.Generator().manual_seed(seed)
    x = (0.5 + torch.rand(1, 1, in_size, in_size, generator=generator, dtype=torch.float64))
    x.requires_grad_(True)
    with torch.enable_grad():
        out = op(x)
        if not (0 <= pixel[0] < out.shape[-2] and 0 <= pixel[1] < out.shape[-1]):
            raise ValueError(f"pixel {pixel} lies outside the {tuple(out.shape[-2:])} output")
        out[0, 0, pixel[0], pixel[1]].backward()
    return x.grad[0, 0] != 0, tuple(out.shape[-2:])


def _positive_kernel(kernel_size: int, seed: int) -> torch.Tensor:
    """``(1, 1, K, K)`` weights in ``[1, 2)``: no tap is zero by accident."""
    generator = torch.Generator().manual_seed(seed)
    return 1 + torch.rand(1, 1, kernel_size, kernel_size, generator=generator,
                          dtype=torch.float64)


def _grid(ax: Axes, n: int, title: str) -> None:
    """An empty ``n x n`` grid of pixels, row 0 at the top."""
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax.grid(which="minor", color="k", lw=0.4)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)


def _paint(ax: Axes, mask: torch.Tensor, color: str) -> None:
    """Fill the pixels of a boolean ``(n, n)`` mask."""
    for r, c in zip(*np.nonzero(mask.numpy()), strict=True):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, color=color, alpha=0.8))


def _axes(axes: tuple[Axes, Axes] | None) -> tuple[Axes, Axes]:
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.5, 4.3))
    return axes


def draw_dilated_conv(*, kernel_size: int = 3, dilation: int = 2, size: int = 9,
                      pixel: tuple[int, int] | None = None,
                      axes: tuple[Axes, Axes] | None = None) -> ConvGrid:
    """Draw the input pixels that feed one output pixel of a dilated ``K x K`` convolution
    (stride 1, padding ``D (K - 1) / 2``: the output keeps the input's size).

    Args:
        kernel_size: ``K``, odd.
        dilation: ``D``.
        size: the input's side.
        pixel: the output pixel traced; the centre by default.
        axes: two axes (input, output); a new figure when ``None``.
    """
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}")
    padding = dilation * (kernel_size - 1) // 2
    weight = _positive_kernel(kernel_size, seed=0)
    out_size = conv_output_size(size, kernel_size, padding=padding, dilation=dilation)
    pixel = pixel if pixel is not None else (out_size // 2, out_size // 2)

    def dilated(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, weight, padding=padding, dilation=dilation)

    mask, shape = feeding_pixels(dilated, size, pixel)
    assert shape == (out_size, out_size)  # segedu.nn's arithmetic, checked on the real output
    input_ax, output_ax = _axes(axes)
    _grid(input_ax, size, f"dilated {kernel_size}×{kernel_size}, D = {dilation}: input "
                          f"{size}×{size}\n{int(mask.sum())} pixels feed the output pixel")
    _paint(input_ax, mask, "tab:blue")
    _grid(output_ax, out_size, f"output {out_size}×{out_size} (the same size)\nthe output pixel")
    one = torch.zeros(out_size, out_size, dtype=torch.bool)
    one[pixel] = True
    _paint(output_ax, one, "tab:blue")
    return ConvGrid([mask], [pixel], size, out_size, (input_ax, output_ax))


def draw_transposed_conv(*, kernel_size: int = 3, stride: int = 2, padding: int = 1,
                         size: int = 5,
                         pixels: Sequence[tuple[int, int]] = ((4, 4), (3, 4), (3, 3)),
                         axes: tuple[Axes, Axes] | None = None) -> ConvGrid:
    """Draw the input pixels that feed a few output pixels of a transposed convolution.

    Left: the input, a dot in each pixel that feeds a traced output pixel (one colour per output
    pixel, side by side). Right: the output, the traced pixels filled, each with the number of
    input pixels feeding it, and the centres of the input pixels' stamps in grey.

    Args:
        kernel_size, stride, padding: ``K``, ``S``, ``P`` of the transposed convolution.
        size: the input's side.
        pixels: up to four output pixels ``(row, column)`` to trace.
        axes: two axes (input, output); a new figure when ``None``.
    """
    if not 1 <= len(pixels) <= len(PROBE_COLORS):
        raise ValueError(f"trace 1 to {len(PROBE_COLORS)} output pixels, got {len(pixels)}")
    weight = _positive_kernel(kernel_size, seed=0)
    out_size = conv_transpose_output_size(size, kernel_size, stride=stride, padding=padding)

    def transposed(x: torch.Tensor) -> torch.Tensor:
        return conv_transpose2d_scatter(x, weight, stride=stride, padding=padding)

    masks = []
    for pixel in pixels:
        mask, shape = feeding_pixels(transposed, size, tuple(pixel))
        assert shape == (out_size, out_size)  # segedu.nn's arithmetic, checked on the output
        masks.append(mask)
    input_ax, output_ax = _axes(axes)
    _grid(input_ax, size, f"transposed {kernel_size}×{kernel_size}, S = {stride}: input "
                          f"{size}×{size}\ndots: the pixels that feed each")
    offsets = [(-0.22, -0.22), (0.22, -0.22), (0.0, 0.22), (0.22, 0.22)]  # dots side by side
    for mask, color, (dy, dx) in zip(masks, PROBE_COLORS, offsets, strict=False):
        rows, cols = np.nonzero(mask.numpy())
        input_ax.scatter(cols + dx, rows + dy, s=60, color=color)
    _grid(output_ax, out_size, f"output {out_size}×{out_size} (about {stride} times the size)\n"
                               "grey: centres of the input pixels' stamps")
    # input pixel i stamps the kernel centred on output pixel S i + (K - 1) / 2 - P
    centres = stride * np.arange(size) + (kernel_size - 1) / 2 - padding
    inside = centres[(centres >= 0) & (centres < out_size)]
    output_ax.scatter(*np.meshgrid(inside, inside), s=12, color="0.6")
    for pixel, mask, color in zip(pixels, masks, PROBE_COLORS, strict=False):
        one = torch.zeros(out_size, out_size, dtype=torch.bool)
        one[tuple(pixel)] = True
        _paint(output_ax, one, color)
        output_ax.text(pixel[1], pixel[0], int(mask.sum()), ha="center", va="center",
                       color="w", fontsize=9, fontweight="bold")
    return ConvGrid(masks, [tuple(p) for p in pixels], size, out_size, (input_ax, output_ax))
