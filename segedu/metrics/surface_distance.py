r"""Surface-distance metrics of binary masks: Hausdorff distance (max and HD95), average symmetric
surface distance (ASSD) and normalised surface Dice (NSD), in 2-D and 3-D, with pixel spacing.

Overlap metrics (IoU, Dice) count pixels; medical segmentation also asks *how far* a predicted
outline lies from the true one, in millimetres. All three metrics here are read off the same two
lists of distances:

1. **Surfaces.** The surface :math:`\partial P` of a mask :math:`P` is the set of its pixels
   (voxels) with at least one face neighbour outside the mask: ``mask & ~erosion(mask)``, with a
   cross-shaped (face-connected) erosion; the image border counts as outside, so an object that
   touches the border has a surface there too (:func:`surface_pixels`).
2. **Distances.** For each pixel of :math:`\partial P`, the Euclidean distance, in physical units
   (``spacing`` per axis, e.g. millimetres), to the nearest pixel of :math:`\partial T`; and for
   each pixel of :math:`\partial T` to the nearest of :math:`\partial P`
   (:func:`surface_distances`). The textbook way is a Euclidean distance transform of the other
   surface, ``scipy.ndimage.distance_transform_edt(~surface, sampling=spacing)``, read at this
   surface's pixels (the lab does it that way); segedu asks a KD-tree
   (``scipy.spatial.cKDTree``) over the other surface's pixel coordinates times ``spacing``
   for the nearest one: the same exact distances, with work that grows with the number of
   surface pixels rather than with the volume.
3. **Summaries.** With :math:`d_{PT}` the distances from :math:`\partial P` to :math:`\partial T`
   and :math:`d_{TP}` the other way round:

   .. math::

       \mathrm{HD} &= \max\bigl(\max d_{PT},\ \max d_{TP}\bigr), \qquad
       \mathrm{HD}_{95} = \max\bigl(Q_{95}(d_{PT}),\ Q_{95}(d_{TP})\bigr), \\
       \mathrm{ASSD} &= \frac{\sum d_{PT} + \sum d_{TP}}{|\partial P| + |\partial T|}, \qquad
       \mathrm{NSD}_\tau = \frac{|\{d_{PT} \le \tau\}| + |\{d_{TP} \le \tau\}|}
                               {|\partial P| + |\partial T|},

   where :math:`Q_{95}` is the 95th percentile with linear interpolation (``numpy.percentile``'s
   and ``torch.quantile``'s default). HD95 is the larger of two *directed* percentiles, not the
   percentile of the pooled list, and ASSD is the mean of the pooled list, not the mean of the two
   directed means: both as MONAI computes them.

Why HD95 rather than the maximum: the maximum is decided by one pixel, so one stray false-positive
speck far from the organ sets it, however good the rest of the outline is. The 95th percentile
ignores the worst 5 % of each surface and reports the typical large error. NSD (Nikolov et al.
2021, arXiv:2111.05408) asks which fraction of both surfaces lies within a tolerance :math:`\tau`
(the inter-rater variation, in mm) of the other: 1 is perfect, and it does not grow without bound
as the distances do.

**Empty masks.** The distances are undefined when a surface is empty, and the functions return
what MONAI returns, with one exception (HD95, below):

- *both masks empty*: ``nan`` for every metric (there is no surface at all, so no distance; the
  prediction is right, but there is nothing to measure);
- *one mask empty*: ``inf`` for HD, HD95 and ASSD (a surface has no nearest point on an empty
  one: the distance to nothing is infinite), and ``0.0`` for NSD (no surface pixel lies within
  the tolerance of the other surface). MONAI returns ``nan`` for HD95 here: its
  ``torch.quantile`` interpolates between infinite distances, and ``inf - inf`` is ``nan``;
  segedu returns ``inf``, as for the maximum, so that a missed object is never mistaken for an
  image with nothing to find.

Averaging a data set with these values gives ``nan`` or ``inf``: decide a convention before you
average, and state it: e.g. leave out the ``nan`` images (nothing to find, nothing found), and
replace ``inf`` by a fixed worst distance such as the diagonal of the volume in millimetres
(``torch.nan_to_num(hd, posinf=diagonal)``), so that a missed organ counts as the worst possible
outline rather than being dropped.

**Spacing.** ``spacing`` is the size of a pixel along each axis, in the units you want the
distances in; ``None`` is 1 per axis (distances in pixels). CT and MR volumes are anisotropic
(e.g. 0.8 × 0.8 mm in-plane, 5 mm between slices); forgetting the spacing measures distances in
voxels, and counts a step of 5 mm between slices as much as one of 0.8 mm in the plane.

The functions take a batch: ``pred`` and ``target`` of shape ``(N, H, W)`` (2-D) or
``(N, D, H, W)`` (3-D), bool, or integers 0/1; one image is ``mask[None]``. For several classes
pass ``pred == c, target == c`` per class. Each returns an ``(N,)`` float64 tensor.

References and their conventions:

- ``monai.metrics.compute_hausdorff_distance(percentile=None | 95)``,
  ``compute_average_surface_distance(symmetric=True)`` and ``compute_surface_dice`` with their
  default ``distance_metric="euclidean"`` and ``use_subvoxels=False`` give the same figures
  (tested), up to float32 rounding: MONAI also measures with a KD-tree on the CPU, in float64,
  and returns float32. Its surfaces are the same (``get_mask_edges``: scipy's binary erosion
  after cropping to the masks' bounding box padded by one empty pixel).
- MONAI's ``percentile=0`` (falsy) returns the maximum; segedu's returns the 0th percentile, the
  smallest distance.
- ``use_subvoxels=True`` (DeepMind's ``surface-distance``) weights each surface element by its
  area instead of counting pixels; segedu does not do that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from ._checks import _as_binary_masks

__all__ = [
    "surface_pixels",
    "surface_distances",
    "hausdorff_distance",
    "average_symmetric_surface_distance",
    "normalized_surface_dice",
]


# --------------------------------------------------------------------------- input checks
def _check_batch(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W)`` or ``(N, D, H, W)`` masks of one shape, as bool numpy arrays."""
    pred, target = _as_binary_masks("pred", pred), _as_binary_masks("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {pred.shape} and {target.shape}"
        )
    if pred.ndim not in (3, 4):
        raise ValueError(
            f"masks must be a batch (N, H, W) or (N, D, H, W), got shape {pred.shape}; "
            "one image or volume is mask[None]"
        )
    return pred, target


def _spacing(spacing: float | Sequence[float] | None, spatial_dims: int, shape) -> tuple:
    """Spacing as a tuple of ``spatial_dims`` positive floats (``None``: all 1)."""
    if spacing is None:
        return (1.0,) * spatial_dims
    values = (spacing,) * spatial_dims if np.ndim(spacing) == 0 else tuple(spacing)
    if len(values) != spatial_dims:
        raise ValueError(
            f"spacing has {len(values)} values but the masks {tuple(shape)} have {spatial_dims} "
            f"spatial dimensions (read as (N, {', '.join('DHW'[-spatial_dims:])})); "
            "one 3-D volume needs a batch dimension: volume[None]"
        )
    values = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing must be positive and finite, got {values}")
    return values


# --------------------------------------------------------------------------- surfaces
def surface_pixels(mask: Any) -> np.ndarray:
    """The surface of one mask: its pixels (voxels) with a face neighbour outside the mask.

    Args:
        mask: one binary mask ``(H, W)`` or ``(D, H, W)``, bool or 0/1 (tensor or numpy array).

    Returns:
        bool numpy array of the same shape: ``mask & ~erosion(mask)``, with the face-connected
        (cross-shaped) erosion of ``scipy.ndimage.binary_erosion`` and the outside of the image
        counted as background. A one-pixel object is its own surface.
    """
    mask = _as_binary_masks("mask", mask)
    # a pixel is interior when it and its 2 * ndim face neighbours are all in the mask; the
    # padding makes the outside of the image background (this is scipy's binary_erosion with
    # its default cross and border_value=0, written with shifted views: several times faster)
    padded = np.pad(mask, 1)
    interior = mask.copy()
    for axis in range(mask.ndim):
        for start in (0, 2):  # the neighbour before and the one after along this axis
            view = [slice(1, -1)] * mask.ndim
            view[axis] = slice(start, start + mask.shape[axis])
            interior &= padded[tuple(view)]
    return mask & ~interior


def _distances_to(points_from: np.ndarray, points_to: np.ndarray) -> np.ndarray:
    """Distance from each point of ``points_from`` ``(n, ndim)`` to the nearest of ``points_to``."""
    if not len(points_to):  # nothing to measure to: infinitely far
        return np.full(len(points_from), np.inf)
    if not len(points_from):
        return np.zeros(0)
    # a KD-tree over the other surface answers "nearest point?" for all points at once
    return cKDTree(points_to).query(points_from)[0]


def surface_distances(
    pred: Any, target: Any, *, spacing: float | Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The two directed lists of surface distances of one pair of masks.

    Args:
        pred: one predicted mask ``(H, W)`` or ``(D, H, W)``, bool or 0/1.
        target: the true mask, same shape.
        spacing: pixel size per axis (a number for all axes), in the units of the result;
            ``None``: 1.

    Returns:
        ``(d_pred_to_target, d_target_to_pred)``: float64 numpy arrays with one distance per
        surface pixel of ``pred`` (to the nearest surface pixel of ``target``) and one per surface
        pixel of ``target``, in ``np.argwhere`` order. Empty when that mask is empty; ``inf``
        everywhere when the *other* mask is empty.
    """
    pred, target = _as_binary_masks("pred", pred), _as_binary_masks("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {pred.shape} and {target.shape}"
        )
    spacing = _spacing(spacing, pred.ndim, pred.shape)
    union = pred | target
    if not union.any():
        return np.zeros(0), np.zeros(0)
    # 1. crop both masks to the box around them (less work; distances do not change)
    box = ndimage.find_objects(union.view(np.uint8))[0]  # one slice per axis
    pred, target = pred[box], target[box]
    # 2. the two surfaces (a pixel on the box's edge borders the outside: surface if in the mask)
    # 3. their pixel coordinates in physical units: index times spacing, per axis
    scale = np.asarray(spacing)
    points_pred = np.argwhere(surface_pixels(pred)) * scale
    points_target = np.argwhere(surface_pixels(target)) * scale
    # 4. each surface pixel's distance to the nearest pixel of the other surface
    return _distances_to(points_pred, points_target), _distances_to(points_target, points_pred)


def _per_image(pred: Any, target: Any, spacing, summary) -> torch.Tensor:
    """Apply ``summary(d_pred_to_target, d_target_to_pred)`` to each image of a batch: ``(N,)``."""
    pred, target = _check_batch(pred, target)
    spacing = _spacing(spacing, pred.ndim - 1, pred.shape)
    values = []
    for p, t in zip(pred, target, strict=True):
        d_pt, d_tp = surface_distances(p, t, spacing=spacing)
        values.append(np.nan if d_pt.size + d_tp.size == 0 else summary(d_pt, d_tp))
    return torch.tensor(values, dtype=torch.float64)


# --------------------------------------------------------------------------- the metrics
def hausdorff_distance(
    pred: Any,
    target: Any,
    *,
    spacing: float | Sequence[float] | None = None,
    percentile: float | None = None,
) -> torch.Tensor:
    """Symmetric Hausdorff distance per image; ``percentile=95`` gives HD95.

    Args:
        pred: predicted masks ``(N, H, W)`` or ``(N, D, H, W)``, bool or 0/1.
        target: true masks, same shape.
        spacing: pixel size per axis, e.g. ``(5.0, 0.8, 0.8)`` mm for ``(D, H, W)``; ``None``: 1.
        percentile: ``None`` for the maximum distance (the Hausdorff distance); a number in
            ``[0, 100]`` for that percentile of each directed list, the larger of the two
            (95: HD95).

    Returns:
        ``(N,)`` float64 tensor in the units of ``spacing``: ``nan`` where both masks are empty,
        ``inf`` where exactly one is (see the module docstring).
    """
    if percentile is not None and not 0 <= percentile <= 100:
        raise ValueError(
            f"percentile must lie in [0, 100] (or be None for the max), got {percentile}"
        )

    def summary(d_pt: np.ndarray, d_tp: np.ndarray) -> float:
        if not d_pt.size or not d_tp.size:  # one mask is empty: infinitely far
            return math.inf
        if percentile is None:  # the largest distance of either direction
            return float(max(d_pt.max(), d_tp.max()))
        # the percentile of each direction separately, then the larger of the two
        return float(max(np.percentile(d_pt, percentile), np.percentile(d_tp, percentile)))

    return _per_image(pred, target, spacing, summary)


def average_symmetric_surface_distance(
    pred: Any, target: Any, *, spacing: float | Sequence[float] | None = None
) -> torch.Tensor:
    """Average symmetric surface distance (ASSD) per image: the mean of both distance lists pooled.

    Args:
        pred: predicted masks ``(N, H, W)`` or ``(N, D, H, W)``, bool or 0/1.
        target: true masks, same shape.
        spacing: pixel size per axis; ``None``: 1.

    Returns:
        ``(N,)`` float64 tensor: ``(sum d_PT + sum d_TP) / (|dP| + |dT|)``; ``nan`` where both
        masks are empty, ``inf`` where exactly one is.
    """
    return _per_image(
        pred, target, spacing, lambda d_pt, d_tp: float(np.concatenate([d_pt, d_tp]).mean())
    )


def normalized_surface_dice(
    pred: Any,
    target: Any,
    *,
    tolerance: float,
    spacing: float | Sequence[float] | None = None,
) -> torch.Tensor:
    """Normalised surface Dice (NSD) per image: the share of both surfaces within ``tolerance``.

    Args:
        pred: predicted masks ``(N, H, W)`` or ``(N, D, H, W)``, bool or 0/1.
        target: true masks, same shape.
        tolerance: the largest distance that counts as right, in the units of ``spacing``
            (a distance equal to it counts). With a spacing that is no exact binary fraction
            (0.7, unlike 0.75), a distance can differ in its last bit with the way it is
            computed (coordinates times spacing here and in MONAI, pixel differences times
            spacing in a distance transform), so a tolerance equal to such a distance may count
            it in one library and not in another.
        spacing: pixel size per axis; ``None``: 1.

    Returns:
        ``(N,)`` float64 tensor in ``[0, 1]``: ``nan`` where both masks are empty, ``0`` where
        exactly one is.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        raise TypeError(f"tolerance must be a number, got {tolerance!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")

    def summary(d_pt: np.ndarray, d_tp: np.ndarray) -> float:
        within = (d_pt <= tolerance).sum() + (d_tp <= tolerance).sum()
        return float(within / (d_pt.size + d_tp.size))

    return _per_image(pred, target, spacing, summary)
