r"""J&F: the video object segmentation measures of DAVIS (Perazzi et al., CVPR 2016; Pont-Tuset et
al., arXiv:1704.00675, 2017), as the DAVIS 2017 evaluation code computes them.

A semi-supervised video object segmentation method is given the masks of the objects in the first
frame and must segment the same objects, with the same ids, in every later frame. Each object is
scored in each frame by two numbers:

- **region similarity** :math:`\mathcal{J}` (:func:`region_similarity`): the IoU (Jaccard index)
  of the predicted and the true mask, :math:`|P \cap G| / |P \cup G|`; **1 when both are
  empty** (the object is gone and the method says so);
- **contour accuracy** :math:`\mathcal{F}` (:func:`boundary_f_measure`): the F-measure of the
  two masks' boundaries. The boundary of a mask (:func:`boundary_map`, DAVIS's ``seg2bmap``) is
  the set of pixels whose 2 x 2 block with its east, south and south-east neighbours is not all
  in or all out of the mask: one pixel wide, half a pixel towards the image origin from the true
  edge (so, of an object spanning columns 3..7, columns 2 and 7 are boundary); the image border is
  never boundary. A boundary pixel of the prediction is *matched* when a true boundary pixel lies
  within the tolerance, a disk of radius :math:`r = \lceil 0.008 \cdot \text{image diagonal}
  \rceil` pixels (:func:`boundary_tolerance`; ``bound_th`` >= 1 gives the radius in pixels
  directly), and the other way round: precision :math:`P` is the fraction of matched predicted
  boundary pixels, recall :math:`R` the fraction of matched true ones, and
  :math:`\mathcal{F} = 2PR / (P + R)` (0 when :math:`P + R = 0`). Empty boundaries: none
  predicted but some true: :math:`P = 1, R = 0`, so :math:`\mathcal{F} = 0`; some predicted but
  none true: :math:`P = 0, R = 1`, :math:`\mathcal{F} = 0`; both empty: :math:`\mathcal{F} = 1`.

Per object, over the frames that are scored (:func:`davis_statistics`, DAVIS's
``db_statistics``): the **mean**; the **recall**, the fraction of frames that score above 0.5;
and the **decay**, the mean over the first quarter of the frames minus the mean over the last
quarter (how much worse the method gets as the object drifts from its first-frame mask). The
quarters are DAVIS's bins: with :math:`n` frames, the indices
``round(linspace(1, n, 5) + 1e-10) - 1`` cut them, and bin :math:`i` runs from cut :math:`i` to
cut :math:`i + 1` inclusive, so neighbouring bins share a frame. :func:`j_and_f` scores one clip:
every statistic of :math:`\mathcal{J}` and :math:`\mathcal{F}` is averaged over the objects, and
**J&F** is :math:`(\mathcal{J}_\text{mean} + \mathcal{F}_\text{mean}) / 2`. :class:`JAndF`
averages over the objects of many clips, as the DAVIS benchmark averages over the objects of all
its sequences (not over sequences).

Where the DAVIS code differs from the papers, segedu follows the code:

- The 2016 paper matches boundary pixels one to one (the bipartite matching of Martin et al.,
  2004); the code counts a pixel as matched when any boundary pixel of the other mask lies within
  the disk (a morphological dilation), so several pixels may match one. segedu dilates too.
- The semi-supervised evaluation of DAVIS 2017 scores neither the first frame (its masks are
  given) nor the last one: ``skip_first_and_last=True`` does the same, ``False`` scores all.
- The objects are the ids ``1..max`` of the first true frame in DAVIS; segedu takes the ids that
  occur in the first true frame (the same on DAVIS, where every object shows in frame 0), or the
  ``object_ids`` you pass (``davisinteractive``'s ``batched_jaccard`` takes every id of the
  whole clip). Ids of the prediction that are no such object are an error, as in DAVIS.

Where segedu differs from the code: the decay's cut indices are ``uint8`` in DAVIS, which wraps
around for clips of more than 256 scored frames; segedu's do not. DAVIS 2017 also reads void
pixels (label 255), but its loader turns them into background first, so they never count as void;
segedu has no void label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from ._checks import _as_binary_masks

__all__ = [
    "region_similarity",
    "boundary_map",
    "boundary_tolerance",
    "boundary_f_measure",
    "davis_statistics",
    "j_and_f",
    "JAndF",
]

# the keys of the summary, as DAVIS 2017's evaluation prints them
SUMMARY_KEYS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def _mask_pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    pred, target = _as_binary_masks("pred", pred), _as_binary_masks("target", target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and "
                         f"{target.shape}")
    if pred.ndim < 2:
        raise ValueError(f"masks must be (..., H, W), got shape {pred.shape}")
    return pred, target


def region_similarity(pred: Any, target: Any) -> torch.Tensor:
    """DAVIS's J: the IoU of each pair of masks, 1 where both are empty.

    Args:
        pred, target: binary masks ``(..., H, W)`` of the same shape, bool or 0/1 (tensor or
            numpy array).

    Returns:
        float64 tensor ``(...)``: ``|pred & target| / |pred | target|``, 1 for two empty masks.
    """
    pred, target = _mask_pair(pred, target)
    inter = (pred & target).sum(axis=(-2, -1))
    union = (pred | target).sum(axis=(-2, -1))
    # both empty: the object is absent and predicted absent, a perfect frame
    j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return torch.from_numpy(np.asarray(j, dtype=np.float64))


def boundary_map(mask: Any) -> torch.Tensor:
    """DAVIS's ``seg2bmap``: the one-pixel-wide boundary of each mask.

    A pixel is boundary when it differs from its east, south or south-east neighbour; in the last
    row only the east one is compared, in the last column only the south one, and the bottom-right
    pixel is never boundary (the outside of the image is no neighbour).

    Args:
        mask: binary masks ``(..., H, W)``, bool or 0/1 (tensor or numpy array).

    Returns:
        bool tensor ``(..., H, W)``.
    """
    seg = _as_binary_masks("mask", mask)
    if seg.ndim < 2:
        raise ValueError(f"mask must be (..., H, W), got shape {seg.shape}")
    # the east, south and south-east neighbours, False outside the image
    east, south, south_east = (np.zeros_like(seg) for _ in range(3))
    east[..., :, :-1] = seg[..., :, 1:]
    south[..., :-1, :] = seg[..., 1:, :]
    south_east[..., :-1, :-1] = seg[..., 1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    # the last row and column compare inside the image only
    bmap[..., -1, :] = seg[..., -1, :] ^ east[..., -1, :]
    bmap[..., :, -1] = seg[..., :, -1] ^ south[..., :, -1]
    bmap[..., -1, -1] = False
    return torch.from_numpy(bmap)


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> int:
    """The radius, in pixels, within which two boundary pixels match: ``ceil(bound_th *
    diagonal)`` for ``bound_th < 1``, ``bound_th`` itself otherwise (DAVIS's ``bound_pix``)."""
    if isinstance(bound_th, bool) or not isinstance(bound_th, (int, float)) or not (
            math.isfinite(bound_th) and bound_th > 0):
        raise ValueError(f"bound_th must be a positive number (a fraction of the diagonal below "
                         f"1, pixels from 1 on), got {bound_th!r}")
    if bound_th >= 1:
        return int(bound_th)
    return math.ceil(bound_th * math.hypot(height, width))


def _disk(radius: int) -> np.ndarray:
    """The pixels within ``radius`` of the centre, ``x^2 + y^2 <= radius^2`` (skimage's ``disk``):
    ``(2 radius + 1, 2 radius + 1)`` bool."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def boundary_f_measure(pred: Any, target: Any, *, bound_th: float = 0.008) -> torch.Tensor:
    """DAVIS's F: the F-measure of the boundaries of each pair of masks.

    Args:
        pred, target: binary masks ``(..., H, W)`` of the same shape, bool or 0/1.
        bound_th: the matching tolerance: a fraction of the image diagonal (``< 1``, DAVIS's
            0.008), rounded up to whole pixels, or a radius in pixels (``>= 1``).

    Returns:
        float64 tensor ``(...)``; the empty-boundary conventions are in the module docstring.
    """
    pred, target = _mask_pair(pred, target)
    h, w = pred.shape[-2:]
    radius = boundary_tolerance(h, w, bound_th)
    pred_b = boundary_map(pred).numpy().reshape(-1, h, w)
    true_b = boundary_map(target).numpy().reshape(-1, h, w)
    # each boundary grown by the disk: "a boundary pixel of the other mask lies within r"
    disk = _disk(radius)[None]  # no growth across masks
    near_pred = ndimage.binary_dilation(pred_b, structure=disk)
    near_true = ndimage.binary_dilation(true_b, structure=disk)
    n_pred = pred_b.sum(axis=(1, 2))
    n_true = true_b.sum(axis=(1, 2))
    # precision: predicted boundary near a true one; recall: true boundary near a predicted one
    precision = np.where(n_pred == 0, 1.0, (pred_b & near_true).sum(axis=(1, 2))
                         / np.maximum(n_pred, 1))
    recall = np.where(n_true == 0, 1.0, (true_b & near_pred).sum(axis=(1, 2))
                      / np.maximum(n_true, 1))
    # one side empty, the other not: DAVIS sets the empty side's figure to 1 and the other to 0
    precision = np.where((n_pred > 0) & (n_true == 0), 0.0, precision)
    recall = np.where((n_pred == 0) & (n_true > 0), 0.0, recall)
    total = precision + recall
    f = np.where(total == 0, 0.0, 2 * precision * recall / np.where(total == 0, 1.0, total))
    return torch.from_numpy(f.reshape(pred.shape[:-2]).astype(np.float64))


def davis_statistics(per_frame: Any) -> tuple[float, float, float]:
    """Mean, recall (fraction of frames > 0.5) and decay (first quarter's mean minus the last
    quarter's) of one object's per-frame scores, as DAVIS's ``db_statistics``.

    Args:
        per_frame: ``(T,)`` scores (J or F), ``T >= 1``.

    Returns:
        ``(mean, recall, decay)`` as floats.
    """
    values = torch.as_tensor(per_frame, dtype=torch.float64).numpy()
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"per_frame must be a non-empty 1-D sequence of scores, got shape "
                         f"{values.shape}")
    mean = float(values.mean())
    recall = float((values > 0.5).mean())
    # four bins cut at round(linspace(1, n, 5)) - 1; bin i spans cuts i..i+1 inclusive
    cuts = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)
    bins = [values[cuts[i] : cuts[i + 1] + 1] for i in range(4)]
    decay = float(bins[0].mean() - bins[3].mean())
    return mean, recall, decay


def _label_maps(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, value in (("pred", pred), ("target", target)):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be a tensor or numpy array (T, H, W) of object ids, "
                            f"got {type(value).__name__}")
        if not (np.issubdtype(value.dtype, np.integer) or value.dtype == np.bool_):
            raise TypeError(f"{name} must hold integer object ids (0 background), got "
                            f"{value.dtype}")
        if value.ndim != 3:
            raise ValueError(f"{name} must be a clip of id maps (T, H, W), got shape "
                             f"{value.shape}")
        if value.size and value.min() < 0:
            raise ValueError(f"{name} holds negative ids; ids are 0 (background) or positive")
        arrays.append(value.astype(np.int64))
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"pred and target must have the same shape (T, H, W), got "
                         f"{arrays[0].shape} and {arrays[1].shape}")
    return arrays[0], arrays[1]


def j_and_f(
    pred: Any,
    target: Any,
    *,
    object_ids: Sequence[int] | None = None,
    skip_first_and_last: bool = True,
    bound_th: float = 0.008,
) -> dict[str, Any]:
    """J&F of one clip, as DAVIS 2017's semi-supervised evaluation scores a sequence.

    Args:
        pred, target: id maps ``(T, H, W)`` (tensor or numpy), 0 background, an object's id on
            its pixels (what :class:`segedu.data.SyntheticVideos` gives as ``instances``).
        object_ids: the objects to score; default: the ids in ``target``'s first frame.
        skip_first_and_last: leave the first frame (whose masks the method was given) and the last
            out, as DAVIS 2017 does; then ``T`` must be at least 3.
        bound_th: the boundary tolerance of :func:`boundary_f_measure`.

    Returns:
        a dict with the summary under DAVIS's names (``"J&F-Mean"``, ``"J-Mean"``,
        ``"J-Recall"``, ``"J-Decay"``, ``"F-Mean"``, ``"F-Recall"``, ``"F-Decay"``; floats,
        averaged over the objects), ``"object_ids"`` (the list of objects scored) and the
        per-frame scores ``"J"`` and ``"F"``, float64 tensors ``(objects, scored frames)``.
    """
    object_ids, j, f, stats = _clip_scores(pred, target, object_ids, skip_first_and_last,
                                           bound_th)
    return {**_summary(stats.sum(axis=0), len(object_ids)), "object_ids": object_ids, "J": j,
            "F": f}


def _clip_scores(pred: Any, target: Any, object_ids: Sequence[int] | None,
                 skip_first_and_last: bool, bound_th: float):
    """``(object ids, J (objects, frames), F (objects, frames), statistics (objects, 6))``: each
    object's J mean, recall, decay and F mean, recall, decay."""
    pred, target = _label_maps(pred, target)
    if object_ids is None:
        object_ids = sorted(int(i) for i in np.unique(target[0]) if i != 0)
    else:
        object_ids = [int(i) for i in object_ids]
        if any(i <= 0 for i in object_ids) or len(set(object_ids)) != len(object_ids):
            raise ValueError(f"object_ids must be distinct positive ids, got {object_ids}")
    if not object_ids:
        raise ValueError("there is no object to score: the target's first frame holds only "
                         "background (pass object_ids to choose the objects)")
    stray = sorted(set(np.unique(pred).tolist()) - {0, *object_ids})
    if stray:
        raise ValueError(f"pred holds ids {stray} that are no objects of this evaluation "
                         f"(objects: {object_ids})")
    if skip_first_and_last:
        if len(target) < 3:
            raise ValueError(f"skip_first_and_last needs at least 3 frames, got {len(target)}")
        pred, target = pred[1:-1], target[1:-1]
    ids = np.asarray(object_ids)[:, None, None, None]
    # per object and frame: (objects, frames, H, W) masks, then (objects, frames) scores
    pred_masks, true_masks = pred[None] == ids, target[None] == ids
    j = region_similarity(pred_masks, true_masks)
    f = boundary_f_measure(pred_masks, true_masks, bound_th=bound_th)
    stats = np.array([[*davis_statistics(j[k]), *davis_statistics(f[k])]
                      for k in range(len(object_ids))])
    return object_ids, j, f, stats


def _summary(sums: np.ndarray, count: int) -> dict[str, float]:
    """DAVIS's summary from the sums over objects of (J mean, recall, decay, F mean, ...)."""
    jm, jr, jd, fm, fr, fd = (float(s) / count for s in sums)
    return dict(zip(SUMMARY_KEYS, ((jm + fm) / 2, jm, jr, jd, fm, fr, fd), strict=True))


class JAndF:
    """J&F over many clips: every object of every clip weighs the same, as in the DAVIS benchmark.

    ``update(pred, target)`` scores one clip with :func:`j_and_f` (same keyword arguments, given
    to the constructor) and keeps the sums of its objects' statistics; ``compute()`` returns the
    summary dict (``"J&F-Mean"``, ...; NaN before any clip); ``states()`` the sums, whose sum
    over processes is the total.
    """

    def __init__(self, *, skip_first_and_last: bool = True, bound_th: float = 0.008) -> None:
        self.skip_first_and_last = bool(skip_first_and_last)
        boundary_tolerance(1, 1, bound_th)  # checks bound_th
        self.bound_th = bound_th
        self.reset()

    def reset(self) -> None:
        """Forget every clip seen so far."""
        self.sums = torch.zeros(6, dtype=torch.float64)  # J mean, recall, decay, F likewise
        self.objects = torch.zeros((), dtype=torch.int64)

    def update(self, pred: Any, target: Any, *, object_ids: Sequence[int] | None = None) -> None:
        """Add one clip: id maps ``(T, H, W)``, as for :func:`j_and_f`."""
        object_ids, _, _, stats = _clip_scores(pred, target, object_ids,
                                               self.skip_first_and_last, self.bound_th)
        self.sums += torch.from_numpy(stats.sum(axis=0))
        self.objects += len(object_ids)

    def compute(self) -> dict[str, float]:
        """The summary over every object seen since the last reset."""
        if int(self.objects) == 0:
            return dict.fromkeys(SUMMARY_KEYS, math.nan)
        return _summary(self.sums.numpy(), int(self.objects))

    def states(self) -> dict[str, torch.Tensor]:
        """The state tensors themselves (not copies): their sum over processes is the total."""
        return {"sums": self.sums, "objects": self.objects}

    def __repr__(self) -> str:
        return (f"JAndF(skip_first_and_last={self.skip_first_and_last}, "
                f"bound_th={self.bound_th})")
