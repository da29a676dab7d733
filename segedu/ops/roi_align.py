r"""RoIAlign (Mask R-CNN): RoI pooling without quantisation, by bilinear interpolation.

RoI pooling rounds a region to whole feature cells, which shifts it by up to half a cell: at
stride 16, eight image pixels, too coarse for masks. RoIAlign keeps every coordinate real:

1. scale the region to feature-map coordinates, :math:`x_1' = s\,x_1 - o` etc., with
   ``o = 0.5`` when ``aligned=True`` (a pixel's *centre* is at ``i + 0.5``; subtracting the half
   puts a box exactly onto the cell centres it covers) and ``o = 0`` otherwise (the original,
   half-a-pixel-off Mask R-CNN convention);
2. region size :math:`w = x_2' - x_1'` (with ``aligned=False``: at least 1, a malformed region
   becomes one cell), bin size :math:`w / ow`;
3. in each bin, a regular grid of ``g_h x g_w`` sample points at the centres of a
   ``g_h x g_w`` subdivision of the bin:
   :math:`y = y_1' + i\,b_h + (k + \tfrac12)\,b_h / g_h`, :math:`k = 0 \ldots g_h - 1`;
   ``g_h = sampling_ratio`` when it is positive, else *adaptive*
   :math:`g_h = \lceil h / oh \rceil` (about one sample per feature cell);
4. the value at each sample is the bilinear interpolation of the feature map
   (:func:`bilinear_interpolate`), and the bin's output is the mean over its samples
   (a bin with no samples gives 0).

The rules follow torchvision's CPU kernel (``roi_align_kernel.cpp`` and
``roi_align_common.h``), including its boundary rules, see :func:`bilinear_interpolate`.
The gradient flows to ``input`` only (not to the boxes), as in torchvision.

:func:`roi_align` runs torchvision's kernel by default (``implementation="torchvision"``) and
:func:`roi_align_reference` with ``implementation="reference"``.
"""

from __future__ import annotations

import math

import torch
import torchvision

from ._rois import as_rois, check_box, check_implementation, check_input, pair

__all__ = ["roi_align", "roi_align_reference", "roi_align_sampling_points", "bilinear_interpolate"]


def bilinear_interpolate(
    feature: torch.Tensor, y: float | torch.Tensor, x: float | torch.Tensor
) -> torch.Tensor:
    r"""Bilinear interpolation of a feature map ``(C, H, W)`` at real coordinates ``(y, x)``.

    Cell ``(i, j)`` holds the value at the point ``(y, x) = (i, j)``. Between the four cells
    around a point, with :math:`l_y = y - \lfloor y \rfloor`, :math:`l_x = x - \lfloor x \rfloor`:

    .. math:: f(y, x) = (1-l_y)(1-l_x)\,f_{00} + (1-l_y)\,l_x\,f_{01}
                        + l_y (1-l_x)\,f_{10} + l_y\,l_x\,f_{11}.

    Boundary rules of torchvision's RoIAlign kernel:

    * a point with ``y < -1`` or ``y > H`` (or ``x < -1`` or ``x > W``) is outside: value 0;
    * otherwise coordinates are clamped to the map: ``y < 0`` is read as ``0`` and
      ``y > H - 1`` as ``H - 1`` (the edge value is repeated), likewise for ``x``.

    Args:
        feature: ``(C, H, W)`` feature map.
        y, x: coordinates, Python numbers or tensors of the same (or broadcastable) shape ``S``.

    Returns:
        ``(C,)`` for numbers, ``(C, *S)`` for tensors, in ``feature``'s dtype.

    >>> f = torch.tensor([[[0., 1.], [2., 3.]]])   # f(y, x) = 2y + x
    >>> bilinear_interpolate(f, 0.5, 0.25)
    tensor([1.2500])
    """
    if not isinstance(feature, torch.Tensor) or feature.ndim != 3:
        raise ValueError(
            f"feature must be a (C, H, W) tensor, got {getattr(feature, 'shape', feature)}"
        )
    height, width = feature.shape[-2:]
    y = torch.as_tensor(y, dtype=feature.dtype, device=feature.device)
    x = torch.as_tensor(x, dtype=feature.dtype, device=feature.device)
    y, x = torch.broadcast_tensors(y, x)

    # points beyond one cell outside the map read 0 (NaN coordinates too: every test is False)
    inside = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)
    y = torch.where(inside, y, 0).clamp(min=0)  # in [-1, 0): read the first row
    x = torch.where(inside, x, 0).clamp(min=0)

    # the four neighbours; at (or past) the last row/column both neighbours are that row/column
    y_low, x_low = y.long(), x.long()  # y >= 0, so truncation is the floor
    at_bottom, at_right = y_low >= height - 1, x_low >= width - 1
    y_low = torch.where(at_bottom, height - 1, y_low)
    x_low = torch.where(at_right, width - 1, x_low)
    y_high = torch.where(at_bottom, y_low, y_low + 1)
    x_high = torch.where(at_right, x_low, x_low + 1)
    y = torch.where(at_bottom, y_low.to(y.dtype), y)
    x = torch.where(at_right, x_low.to(x.dtype), x)

    # weights: the area of the opposite sub-rectangle
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    w1, w2, w3, w4 = hy * hx, hy * lx, ly * hx, ly * lx

    value = (
        w1 * feature[:, y_low, x_low]
        + w2 * feature[:, y_low, x_high]
        + w3 * feature[:, y_high, x_low]
        + w4 * feature[:, y_high, x_high]
    )  # (C, *S)
    return torch.where(inside, value, 0)


def roi_align_sampling_points(
    box: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where RoIAlign reads the feature map for one region (steps 1-3 of the module docstring).

    :func:`roi_align_reference` pools each region at exactly these points; the figures of
    :mod:`segedu.viz.roi_sampling` draw them.

    Args:
        box: ``(4,)`` tensor ``[x1, y1, x2, y2]`` in image pixels; its dtype is the one the
            coordinates are computed in (the input's, in :func:`roi_align_reference`).
        output_size, spatial_scale, sampling_ratio, aligned: as in :func:`roi_align_reference`.

    Returns:
        ``ys (oh, g_h)`` and ``xs (ow, g_w)`` in feature-map coordinates (cell ``(i, j)`` holds
        the value at the point ``(i, j)``): sample ``k`` of bin row ``i`` lies at ``ys[i, k]``,
        sample ``m`` of bin column ``j`` at ``xs[j, m]``; bin ``(i, j)`` averages the
        ``g_h x g_w`` points ``(ys[i, k], xs[j, m])``. ``g_h`` or ``g_w`` is 0 for an empty region
        with ``aligned=True``.
    """
    check_box(box)
    out_h, out_w = pair(output_size)
    dtype = box.dtype
    # 1. feature-map coordinates, in the box's dtype (as the kernel computes them)
    offset = 0.5 if aligned else 0.0
    start_x, start_y, end_x, end_y = box * spatial_scale - offset
    # 2. region and bin sizes
    roi_w, roi_h = end_x - start_x, end_y - start_y
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    bin_h, bin_w = roi_h / out_h, roi_w / out_w
    # 3. samples per bin along each axis (none for an empty region when aligned=True)
    if sampling_ratio > 0:
        grid_h = grid_w = sampling_ratio
    else:
        grid_h = max(math.ceil(roi_h / out_h), 0)
        grid_w = max(math.ceil(roi_w / out_w), 0)

    # sample coordinates: bin i, sample k at the centre of the k-th of g_h sub-bins
    i = torch.arange(out_h, dtype=dtype)[:, None]
    k = torch.arange(grid_h, dtype=dtype)[None, :]
    ys = start_y + i * bin_h + (k + 0.5) * bin_h / grid_h
    j = torch.arange(out_w, dtype=dtype)[:, None]
    m = torch.arange(grid_w, dtype=dtype)[None, :]
    xs = start_x + j * bin_w + (m + 0.5) * bin_w / grid_w
    return ys, xs


def roi_align_reference(
    input: torch.Tensor,
    boxes: torch.Tensor | list[torch.Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """RoIAlign, one region at a time (see the module docstring for the steps).

    Args:
        input: feature maps ``(N, C, H, W)``.
        boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]``, or a list of ``N`` tensors
            ``(L_i, 4)``; image-pixel coordinates, same dtype as ``input``.
        output_size: ``(oh, ow)``, or one int.
        spatial_scale: feature-map cells per image pixel.
        sampling_ratio: samples per bin along each axis; ``<= 0`` for the adaptive
            ``ceil(region size / output size)``.
        aligned: subtract half a cell from the scaled coordinates (see the module docstring).

    Returns:
        ``(K, C, oh, ow)``.
    """
    check_input(input)
    rois = as_rois(boxes, input).detach()  # like torchvision, no gradient for the boxes
    out_h, out_w = pair(output_size)
    channels = input.shape[1]

    pooled = []
    for roi in rois:
        image = int(roi[0])
        # 1.-3. where the samples of each bin lie: ys (oh, g_h), xs (ow, g_w)
        ys, xs = roi_align_sampling_points(
            roi[1:], (out_h, out_w), spatial_scale, sampling_ratio, aligned
        )
        count = max(ys.shape[1] * xs.shape[1], 1)

        # 4. interpolate at every (y, x) sample pair: (C, oh, g_h, ow, g_w), then average per bin
        samples = bilinear_interpolate(input[image], ys[:, :, None, None], xs[None, None, :, :])
        pooled.append(samples.sum(dim=(2, 4)) / count)  # (C, oh, ow)

    if not pooled:  # no regions: an empty slice of input, so that autograd still reaches input
        return input[:0, :, :0, :0].reshape(0, channels, out_h, out_w)
    return torch.stack(pooled)


def roi_align(
    input: torch.Tensor,
    boxes: torch.Tensor | list[torch.Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
    *,
    implementation: str = "torchvision",
) -> torch.Tensor:
    """RoIAlign ``(N, C, H, W)`` -> ``(K, C, oh, ow)``, as :func:`torchvision.ops.roi_align`.

    ``implementation="torchvision"`` (default) runs torchvision's kernel, ``"reference"`` runs
    :func:`roi_align_reference`. The arguments are those of :func:`roi_align_reference`.
    """
    check_implementation(implementation)
    if implementation == "reference":
        return roi_align_reference(
            input, boxes, output_size, spatial_scale, sampling_ratio, aligned
        )
    check_input(input)
    rois = as_rois(boxes, input)
    return torchvision.ops.roi_align(
        input, rois, pair(output_size), spatial_scale, sampling_ratio, aligned
    )
