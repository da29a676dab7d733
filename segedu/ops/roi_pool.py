r"""RoI pooling (Fast R-CNN): a fixed-size max-pooled feature map for each region of interest.

A region ``[x1, y1, x2, y2]`` given in image pixels is cut out of a feature map whose
resolution is ``spatial_scale`` times the image's (1/16 for a stride-16 backbone), split into an
``output_size`` grid of bins, and each bin is max-pooled. Everything is *quantised* to whole
feature cells, which is what RoIAlign later removes:

1. scale the corners and **round** them to the nearest cell (halves away from zero, C's
   ``round``; :func:`torch.round` would round halves to even):
   :math:`x_1' = \operatorname{round}(s x_1)`, ...;
2. the region spans the cells ``x1' .. x2'`` *inclusive*: width
   :math:`w = \max(x_2' - x_1' + 1, 1)` (a malformed region becomes one cell), and likewise
   :math:`h`;
3. bin ``(i, j)`` of an ``(oh, ow)`` grid covers rows
   :math:`y_1' + \lfloor i\,h/oh \rfloor \ldots y_1' + \lceil (i+1)\,h/oh \rceil - 1`
   and columns likewise (bins may overlap by one cell, and together cover the region), clipped
   to the feature map;
4. each output value is the maximum over its bin; a bin that is empty after clipping gives 0.

These rules are those of torchvision's CPU kernel, ``roi_pool_kernel.cpp``; the bin edges are
computed in the input's dtype, as there. The gradient goes to the (first, in row-major order)
maximum of each bin, and nowhere for an empty bin, as torchvision's backward does.
(Two corner cases differ, on purpose, for readability: torchvision's kernel starts its running
maximum at ``-FLT_MAX`` and skips NaNs, so a bin of ``-inf`` values gives ``-3.4e38`` there and
``-inf`` here, and a bin with a NaN gives NaN here.)

:func:`roi_pool` runs torchvision's kernel by default (``implementation="torchvision"``) and
:func:`roi_pool_reference` (the readable loop below) with ``implementation="reference"``.
"""

from __future__ import annotations

import math

import torch
import torchvision

from ._rois import as_rois, check_box, check_implementation, check_input, pair

__all__ = ["roi_pool", "roi_pool_reference", "roi_pool_bins"]


def _round_half_away_from_zero(v: float) -> int:
    """C's ``round``: 2.5 -> 3, -2.5 -> -3 (Python's ``round`` and ``torch.round`` give 2
    and -2)."""
    magnitude = math.floor(abs(v))
    if abs(v) - magnitude >= 0.5:  # exact: subtracting the floor of a float loses nothing
        magnitude += 1
    return int(math.copysign(magnitude, v))


def _bin_edges(length: int, bins: int, dtype: torch.dtype) -> tuple[list[int], list[int]]:
    r"""Start (inclusive) and end (exclusive) offsets of ``bins`` bins over ``length`` cells:
    :math:`\lfloor i L / n \rfloor` and :math:`\lceil (i + 1) L / n \rceil`, computed in
    ``dtype``."""
    bin_size = torch.tensor(length, dtype=dtype) / bins
    index = torch.arange(bins + 1, dtype=dtype)
    starts = torch.floor(index[:-1] * bin_size).long().tolist()
    ends = torch.ceil(index[1:] * bin_size).long().tolist()
    return starts, ends


def roi_pool_bins(
    box: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float,
    feature_size: tuple[int, int],
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The feature cells that RoI pooling maxes over for one region (steps 1-3 of the module
    docstring).

    :func:`roi_pool_reference` pools each region over exactly these bins; the figures of
    :mod:`segedu.viz.roi_sampling` draw them.

    Args:
        box: ``(4,)`` tensor ``[x1, y1, x2, y2]`` in image pixels; its dtype is the one the bin
            edges are computed in (the input's, in :func:`roi_pool_reference`).
        output_size, spatial_scale: as in :func:`roi_pool_reference`.
        feature_size: ``(H, W)`` of the feature map, to which the bins are clipped.

    Returns:
        ``rows`` (``oh`` pairs ``(top, bottom)``) and ``cols`` (``ow`` pairs ``(left, right)``):
        bin ``(i, j)`` is ``feature[..., top:bottom, left:right]`` with ``rows[i]`` and
        ``cols[j]`` (half-open ranges; empty when ``bottom <= top`` or ``right <= left``).
    """
    check_box(box)
    out_h, out_w = pair(output_size)
    height, width = feature_size
    # 1. scale to feature cells (in the box's dtype) and round to whole cells
    x1, y1, x2, y2 = (_round_half_away_from_zero(v) for v in (box * spatial_scale).tolist())
    # 2. the region covers cells x1..x2 and y1..y2 inclusive; at least one cell
    roi_w = max(x2 - x1 + 1, 1)
    roi_h = max(y2 - y1 + 1, 1)
    # 3. bin edges relative to the region, shifted by the region's corner and clipped to the map
    row_starts, row_ends = _bin_edges(roi_h, out_h, box.dtype)
    col_starts, col_ends = _bin_edges(roi_w, out_w, box.dtype)
    rows = [
        (min(max(y1 + a, 0), height), min(max(y1 + b, 0), height))
        for a, b in zip(row_starts, row_ends, strict=True)
    ]
    cols = [
        (min(max(x1 + a, 0), width), min(max(x1 + b, 0), width))
        for a, b in zip(col_starts, col_ends, strict=True)
    ]
    return rows, cols


def roi_pool_reference(
    input: torch.Tensor,
    boxes: torch.Tensor | list[torch.Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
) -> torch.Tensor:
    """RoI max pooling written as loops over the regions and the bins (see the module docstring).

    Args:
        input: feature maps ``(N, C, H, W)``, float32 or float64.
        boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]``, or a list of ``N`` tensors
            ``(L_i, 4)`` of ``xyxy`` boxes; coordinates in image pixels, same dtype as ``input``.
        output_size: ``(oh, ow)``, or one int for a square grid.
        spatial_scale: feature-map cells per image pixel (``1/16`` for a stride-16 backbone).

    Returns:
        ``(K, C, oh, ow)`` pooled features.
    """
    check_input(input)
    rois = as_rois(boxes, input).detach()  # like torchvision, no gradient for the boxes
    out_h, out_w = pair(output_size)
    _, channels, height, width = input.shape

    pooled = []
    for roi in rois:
        image = int(roi[0])  # the batch index (truncated, as C does)
        # 1.-3. each bin's rows [top, bottom) and columns [left, right), in feature cells
        rows, cols = roi_pool_bins(roi[1:], (out_h, out_w), spatial_scale, (height, width))

        rows_of_bins = []
        for i in range(out_h):
            top, bottom = rows[i]
            row_of_bins = []
            for j in range(out_w):
                left, right = cols[j]
                if bottom <= top or right <= left:
                    # 4a. an empty bin gives 0 and no gradient (written as a sum over no cells, a
                    # zero that stays in the autograd graph even if every bin is empty)
                    row_of_bins.append(input[image, :, :0, :0].sum(dim=(1, 2)))
                    continue
                # 4b. max over the bin, for every channel at once; argmax picks the first maximum
                window = input[image, :, top:bottom, left:right].reshape(channels, -1)
                first_max = window.argmax(dim=1, keepdim=True)
                row_of_bins.append(window.gather(1, first_max).squeeze(1))
            rows_of_bins.append(torch.stack(row_of_bins, dim=-1))  # (C, ow)
        pooled.append(torch.stack(rows_of_bins, dim=-2))  # (C, oh, ow)

    if not pooled:  # no regions: an empty slice of input, so that autograd still reaches input
        return input[:0, :, :0, :0].reshape(0, channels, out_h, out_w)
    return torch.stack(pooled)


def roi_pool(
    input: torch.Tensor,
    boxes: torch.Tensor | list[torch.Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    *,
    implementation: str = "torchvision",
) -> torch.Tensor:
    """RoI max pooling ``(N, C, H, W)`` -> ``(K, C, oh, ow)``, as :func:`torchvision.ops.roi_pool`.

    ``implementation="torchvision"`` (default) runs torchvision's kernel, ``"reference"`` runs
    :func:`roi_pool_reference`. The arguments are those of :func:`roi_pool_reference`.
    """
    check_implementation(implementation)
    if implementation == "reference":
        return roi_pool_reference(input, boxes, output_size, spatial_scale)
    check_input(input)
    rois = as_rois(boxes, input)
    return torchvision.ops.roi_pool(input, rois, pair(output_size), spatial_scale)
