r"""Boundary IoU (Cheng, Girshick, Dollár, Berg and Kirillov, CVPR 2021) of binary masks.

IoU counts every pixel of an object, so on a large object a sloppy outline costs little: the
interior, right by construction, dwarfs the few wrong pixels along the edge. Boundary IoU keeps
only the pixels near the contour:

.. math::

    \mathrm{Boundary\ IoU}(G, P) = \frac{|(G_d \cap G) \cap (P_d \cap P)|}
                                        {|(G_d \cap G) \cup (P_d \cap P)|}

where :math:`G_d` is the set of pixels within distance :math:`d` of the contour of the true mask
:math:`G` (and :math:`P_d` of the prediction :math:`P`), so :math:`G_d \cap G` is the *inner
band* of :math:`G`, ``d`` pixels wide (:func:`boundary_band`). The paper sets
:math:`d` = ``dilation_ratio`` × the image diagonal, with ratio 0.02, rounded to whole pixels and
at least 1. For an object thinner than :math:`2d` the band is the whole object and Boundary IoU
equals IoU; for a large object it weighs the outline alone.

As in the authors' code (``boundary_iou/utils/boundary_utils.py`` of
github.com/bowenc0221/boundary-iou-api, tested against an OpenCV transcription of it), "within
distance d" is measured in the chessboard metric: a pixel of the mask is in the band when its
``(2d+1) × (2d+1)`` square neighbourhood holds a background pixel, i.e. ``d`` iterations of an
erosion with a 3 × 3 square, removed from the mask. The outside of the image counts as background,
so an object cut by the image border has a band along the border too. The paper writes the
Euclidean distance; the two agree on axis-aligned edges and differ near corners and diagonal
edges, where the square reaches :math:`\sqrt 2` times farther.

Empty masks: both empty gives 0 / 0 = ``nan`` (as the authors' code), one empty gives ``0``.
2-D only: :math:`d` is defined from the image diagonal in pixels, as in the paper.

Two ways to the same numbers: :func:`boundary_iou_readable` follows the definition one pair at a
time (crop, erode with :func:`boundary_band`, IoU of the bands); :func:`boundary_iou`, the metric,
erodes the whole batch at once on rows packed 64 pixels to a word (``_packed_erosion.py``), at the
speed of the authors' OpenCV code (``benchmarks/surface_metrics.py``). The tests prove the two
equal on random masks and edge cases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

from ._checks import _as_binary_masks
from ._packed_erosion import count_bits, erode_packed, pack_rows

__all__ = ["boundary_band", "boundary_iou", "boundary_iou_readable"]


def _band_width(height: int, width: int, dilation_ratio: float) -> int:
    """``d`` in pixels: ``dilation_ratio`` × the image diagonal, rounded, at least 1."""
    if not 0 < dilation_ratio <= 1:
        raise ValueError(f"dilation_ratio must lie in (0, 1], got {dilation_ratio}")
    return max(1, round(dilation_ratio * float(np.hypot(height, width))))


def boundary_band(masks: Any, *, width: int) -> np.ndarray:
    """The inner band of each mask: its pixels within ``width`` pixels (chessboard) of the contour.

    Args:
        masks: binary masks ``(N, H, W)``, bool or 0/1 (tensor or numpy array).
        width: band width ``d`` in pixels, ``>= 1``.

    Returns:
        bool numpy array ``(N, H, W)``: ``mask & ~eroded``, where ``eroded`` is the mask after
        ``width`` erosions by a 3 × 3 square, with the outside of the image as background.
    """
    masks = _as_binary_masks("masks", masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be a batch of 2-D masks (N, H, W), got shape {masks.shape}")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer number of pixels, got {width!r}")
    # d erosions by a 3x3 square = one erosion by a (2d+1)x(2d+1) square: a minimum filter
    # (separable, so fast), with the outside of the image as background (cval=0)
    size = 2 * int(width) + 1
    eroded = ndimage.minimum_filter(masks, size=(1, size, size), mode="constant", cval=0)
    return masks & ~eroded


def _checked_pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool numpy arrays ``(N, H, W)`` of one shape, or a clear error."""
    pred, target = _as_binary_masks("pred", pred), _as_binary_masks("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {pred.shape} and {target.shape}"
        )
    if pred.ndim != 3:
        raise ValueError(
            f"masks must be a batch of 2-D masks (N, H, W), got shape {pred.shape}; "
            "one mask is mask[None]"
        )
    return pred, target


def boundary_iou(pred: Any, target: Any, *, dilation_ratio: float = 0.02) -> torch.Tensor:
    """Boundary IoU of each pair of masks (Cheng et al. 2021).

    Args:
        pred: predicted masks ``(N, H, W)``, bool or 0/1 (tensor or numpy array).
        target: true masks, same shape.
        dilation_ratio: band width as a fraction of the image diagonal (the paper's 0.02).

    Returns:
        ``(N,)`` float64 tensor: the IoU of the two inner bands; ``nan`` where both masks are
        empty, ``0`` where exactly one is. Equal to :func:`boundary_iou_readable`.
    """
    pred, target = _checked_pair(pred, target)
    # 1. the band width from the image diagonal
    width = _band_width(pred.shape[1], pred.shape[2], dilation_ratio)
    # 2. both batches at once, each row packed into 64-pixel words
    masks = pack_rows(np.concatenate([pred, target]))
    # 3. the inner bands: the masks without their eroded interior
    bands = masks & ~erode_packed(masks, width)
    band_pred, band_target = bands[: len(pred)], bands[len(pred) :]
    # 4. IoU of the bands (0 / 0 = nan where both masks are empty)
    inter = count_bits(band_pred & band_target)
    union = count_bits(band_pred | band_target)
    with np.errstate(invalid="ignore", divide="ignore"):
        return torch.from_numpy(inter / union.astype(np.float64))


def boundary_iou_readable(pred: Any, target: Any, *, dilation_ratio: float = 0.02) -> torch.Tensor:
    """Boundary IoU of each pair of masks (Cheng et al. 2021), one pair at a time, as defined.

    The same arguments and result as :func:`boundary_iou` (which is faster).

    Args:
        pred: predicted masks ``(N, H, W)``, bool or 0/1 (tensor or numpy array).
        target: true masks, same shape.
        dilation_ratio: band width as a fraction of the image diagonal (the paper's 0.02).

    Returns:
        ``(N,)`` float64 tensor: the IoU of the two inner bands; ``nan`` where both masks are
        empty, ``0`` where exactly one is.
    """
    pred, target = _checked_pair(pred, target)
    # 1. the band width from the image diagonal (of the whole image, before any crop)
    width = _band_width(pred.shape[1], pred.shape[2], dilation_ratio)
    scores = []
    for p, t in zip(pred, target, strict=True):
        union = p | t
        if not union.any():  # nothing in either mask: 0 / 0
            scores.append(np.nan)
            continue
        # 2. crop to the box around both masks: outside it both are background, as the image's
        #    outside is, so the bands do not change (and there is less to erode)
        box = ndimage.find_objects(union.view(np.uint8))[0]  # (rows, columns) slices
        # 3. the inner band of each mask
        band_pred, band_target = boundary_band(np.stack([p[box], t[box]]), width=width)
        # 4. IoU of the bands
        scores.append((band_pred & band_target).sum() / (band_pred | band_target).sum())
    return torch.tensor(scores, dtype=torch.float64)
