r"""Object matching between two instance label images, as StarDist and Cellpose score nuclei.

An *instance label image* gives each pixel the id of the object it belongs to: ``0`` is
background, ``1, 2, ...`` (any positive ids, not necessarily consecutive: ``3, 7, 100`` is fine)
are objects. To compare a prediction with the ground truth:

1. **Overlaps.** Count the pixels of each (true object, predicted object) pair: a contingency
   table, computed with one ``bincount`` as for the confusion matrix.
2. **IoU matrix.** For true object ``i`` and predicted object ``j``,
   :math:`\mathrm{IoU}_{ij} = |T_i \cap P_j| / (|T_i| + |P_j| - |T_i \cap P_j|)`.
3. **One-to-one assignment.** Each object may be matched at most once. Among all such
   assignments, take one with the largest number of pairs with :math:`\mathrm{IoU} \ge t`
   (``thresh``), and among those the largest total IoU. The Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``) minimises the cost

   .. math:: \mathrm{cost}_{ij} = -[\mathrm{IoU}_{ij} \ge t] - \frac{\mathrm{IoU}_{ij}}{2n},
             \qquad n = \min(n_\text{true}, n_\text{pred})

   over assignments of ``n`` pairs. The second term adds up to at most :math:`n \cdot
   \frac{1}{2n} = \frac12 < 1` over an assignment, so it can never buy a higher IoU with one
   pair fewer above the threshold: it only breaks ties between assignments with as many pairs.
   Note that this tie-break adds the IoU of *every* assigned pair, those below ``t`` included,
   so it may keep a match of lower IoU when that lets a below-threshold pair score a little (as
   StarDist does; only the ``*_score`` figures can change, never the counts). For ``t > 0.5``
   the choice is unique anyway: an object overlaps at most one other object by more than half.
4. **Counts.** True positives ``tp`` are the assigned pairs with IoU >= ``t`` (exactly ``t``
   counts); ``fp = n_pred - tp`` predicted objects and ``fn = n_true - tp`` true objects are left
   unmatched.

From the counts (each 0 when ``tp = 0``, as StarDist defines them, also for ``0 / 0``):

- precision :math:`tp / (tp + fp)`, recall :math:`tp / (tp + fn)`,
- accuracy :math:`tp / (tp + fp + fn)`: the "average precision" of the DSB 2018 challenge, of
  StarDist and of Cellpose (not the area under a precision-recall curve of COCO),
- f1 :math:`2tp / (2tp + fp + fn)`,
- mean_matched_score: the mean IoU of the ``tp`` pairs; mean_true_score: their IoU sum over
  ``n_true``; panoptic_quality: their IoU sum over :math:`tp + fp/2 + fn/2` (Kirillov et al.
  2019; 0 when that is 0).

This follows ``stardist.matching.matching`` (criterion ``"iou"``) and is tested against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["matching"]


def _as_label_image(name: str, labels: Any) -> torch.Tensor:
    """An integer label image as an int64 CPU tensor (numpy arrays are accepted too)."""
    if isinstance(labels, np.ndarray):
        if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
            raise TypeError(f"{name} must hold integer object labels, got {labels.dtype}")
        labels = torch.from_numpy(labels.astype(np.int64))
    if not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor (or numpy array) of labels, got {type(labels).__name__}"
        )
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"{name} must hold integer object labels, got {labels.dtype}")
    labels = labels.detach().cpu().long()
    if labels.numel() and labels.min() < 0:
        raise ValueError(f"{name} has negative labels (min {int(labels.min())}); 0 is background")
    return labels


def _as_thresholds(thresh: Any) -> tuple[list[float], bool]:
    """``thresh`` as a list of floats in [0, 1], and whether it was a single number."""
    if isinstance(thresh, np.ndarray | torch.Tensor):
        thresh = thresh.tolist()  # a 0-d array gives a number, a 1-d array a list
    single = not isinstance(thresh, Sequence)
    values = [thresh] if single else list(thresh)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"thresh must be a number or a sequence of numbers, got {thresh!r}")
        if not 0 <= value <= 1:
            raise ValueError(f"thresh must lie in [0, 1], got {value}")
    return [float(value) for value in values], single


def _sequential(labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Relabel objects to ``1..n`` (background stays 0); return the new image and ``n``."""
    ids, inverse = torch.unique(labels, return_inverse=True)  # ids sorted ascending
    if ids.numel() and ids[0] == 0:
        return inverse, ids.numel() - 1  # background is ids[0]: inverse is already 0..n
    return inverse + 1, ids.numel()  # no background pixel: objects become 1..n


def _iou_matrix(gt: torch.Tensor, pred: torch.Tensor) -> np.ndarray:
    """``(n_true, n_pred)`` float64 IoU of every (true, predicted) object pair."""
    gt, n_true = _sequential(gt)
    pred, n_pred = _sequential(pred)
    # 1. contingency table: overlap[i, j] = pixels of true object i in predicted object j
    #    (row 0 and column 0 are the background)
    pair_index = gt.reshape(-1) * (n_pred + 1) + pred.reshape(-1)
    overlap = torch.bincount(pair_index, minlength=(n_true + 1) * (n_pred + 1))
    overlap = overlap.reshape(n_true + 1, n_pred + 1)
    # 2. object areas: row and column sums (background overlaps included)
    true_area, pred_area = overlap.sum(dim=1), overlap.sum(dim=0)
    # 3. IoU = intersection / (area_true + area_pred - intersection), objects only
    intersection = overlap[1:, 1:]
    union = true_area[1:, None] + pred_area[None, 1:] - intersection  # >= 1: objects are non-empty
    return (intersection.double() / union.double()).numpy()


def _assign(iou: np.ndarray, thresh: float) -> tuple[int, float]:
    """Number of matched pairs with IoU >= thresh, and the sum of their IoUs."""
    n_pairs = min(iou.shape)
    above = iou >= thresh
    if n_pairs == 0 or not above.any():
        return 0, 0.0  # nothing can be matched
    # most pairs above thresh first, then most IoU over all assigned pairs (module docstring)
    cost = -above.astype(np.float64) - iou / (2 * n_pairs)
    rows, cols = linear_sum_assignment(cost)
    matched = above[rows, cols]  # an assigned pair below thresh is no match
    return int(matched.sum()), float(iou[rows, cols][matched].sum())


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def _statistics(thresh: float, tp: int, n_true: int, n_pred: int, matched_iou: float) -> dict:
    fp, fn = n_pred - tp, n_true - tp
    return {
        "thresh": thresh,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        # StarDist's convention: each of these is 0 when there is no true positive
        "precision": tp / (tp + fp) if tp > 0 else 0.0,
        "recall": tp / (tp + fn) if tp > 0 else 0.0,
        "accuracy": tp / (tp + fp + fn) if tp > 0 else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0,
        "n_true": n_true,
        "n_pred": n_pred,
        "mean_true_score": _ratio(matched_iou, n_true),
        "mean_matched_score": _ratio(matched_iou, tp),
        "panoptic_quality": _ratio(matched_iou, tp + fp / 2 + fn / 2),
    }


def matching(
    gt_labels: torch.Tensor | np.ndarray,
    pred_labels: torch.Tensor | np.ndarray,
    thresh: float | Sequence[float] = 0.5,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Match the objects of two label images one to one and count hits and misses.

    Args:
        gt_labels: true instance labels, integer tensor (or numpy array) of any shape, e.g.
            ``(H, W)`` or ``(D, H, W)``; 0 is background, any other value an object id.
        pred_labels: predicted instance labels, same shape.
        thresh: IoU threshold in ``[0, 1]`` for a pair to count as a match (``IoU >= thresh``),
            or a sequence of thresholds.

    Returns:
        For one threshold, a dict with ``thresh``, ``tp``, ``fp``, ``fn``, ``n_true``, ``n_pred``
        (ints) and ``precision``, ``recall``, ``accuracy`` (``tp / (tp + fp + fn)``), ``f1``,
        ``mean_true_score``, ``mean_matched_score``, ``panoptic_quality`` (floats; see the module
        docstring). For a sequence of thresholds, a list of such dicts, one per threshold.

    >>> gt = torch.tensor([[1, 1, 0], [0, 2, 2]])
    >>> pred = torch.tensor([[5, 5, 5], [0, 0, 0]])  # object 5 overlaps object 1 with IoU 2/3
    >>> result = matching(gt, pred)
    >>> result["tp"], result["fp"], result["fn"], result["accuracy"]
    (1, 0, 1, 0.5)
    """
    gt = _as_label_image("gt_labels", gt_labels)
    pred = _as_label_image("pred_labels", pred_labels)
    if gt.shape != pred.shape:
        raise ValueError(
            f"gt_labels and pred_labels must have the same shape, got {tuple(gt.shape)} and "
            f"{tuple(pred.shape)}"
        )
    thresholds, single = _as_thresholds(thresh)
    # the IoU of every pair, once for all thresholds
    iou = _iou_matrix(gt, pred)
    n_true, n_pred = iou.shape
    results = []
    for t in thresholds:
        tp, matched_iou = _assign(iou, t)
        results.append(_statistics(t, tp, n_true, n_pred, matched_iou))
    return results[0] if single else results
