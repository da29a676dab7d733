r"""Panoptic quality (PQ), segmentation quality (SQ) and recognition quality (RQ).

Panoptic segmentation gives every pixel a category *and*, for countable "things" (car, person),
an instance: here a pixel is a pair ``(category_id, instance_id)``. A **segment** is the set of
pixels with one pair. Kirillov et al. (2019) score a prediction per category :math:`c` by
matching predicted segments to ground-truth segments:

1. **Segments.** For a *stuff* category (sky, road) all its pixels of an image form one segment,
   whatever their instance ids. A pixel whose category is in neither ``things`` nor ``stuffs``
   is **void**: it belongs to no segment.
2. **Overlaps.** Count the pixels of every (ground-truth segment, predicted segment) pair, void
   included: a contingency table, one ``bincount`` as for the confusion matrix.
3. **Matching.** A ground-truth segment :math:`g` and a predicted segment :math:`p` of the *same
   category* match when :math:`\mathrm{IoU}(g, p) > 0.5` (strictly: 0.5 exactly is no match), with

   .. math:: \mathrm{IoU}(g, p) = \frac{|g \cap p|}{|g| + |p| - |g \cap p| - |p \cap \text{void}|}

   The union leaves out the predicted pixels that fall on ground-truth void: nobody knows what
   they are, so they count neither for nor against the prediction. Above one half, a match is
   unique: no segment can overlap two others by more than half, so no assignment is needed.
4. **Counts.** A match is a true positive (TP) of its category. An unmatched ground-truth segment
   is a false negative (FN). An unmatched prediction is a false positive (FP), *unless* more than
   half of it lies on ground-truth void (:math:`|p \cap \text{void}| / |p| > 0.5`): then it is
   ignored.
5. **Per category**, over the whole dataset (IoU sums and counts added over all images first,
   then the ratios, as panopticapi does):

   .. math::
      \mathrm{PQ}_c = \frac{\sum_{(g, p) \in TP_c} \mathrm{IoU}(g, p)}
                           {|TP_c| + \tfrac12 |FP_c| + \tfrac12 |FN_c|}
      = \underbrace{\frac{\sum_{TP_c} \mathrm{IoU}}{|TP_c|}}_{\mathrm{SQ}_c} \times
        \underbrace{\frac{|TP_c|}{|TP_c| + \tfrac12 |FP_c| + \tfrac12 |FN_c|}}_{\mathrm{RQ}_c}

   SQ is the mean IoU of the matches (0 when there is none, as panopticapi), RQ an F1 score.
6. **Averages.** PQ, SQ and RQ are the means over the categories that *occur*: those with
   :math:`TP + FP + FN > 0` (panopticapi's rule); ``pq_things`` and ``pq_stuff`` average over the
   thing and the stuff categories only. With no category occurring the mean is NaN.

The COCO panoptic format (:func:`~segedu.metrics.panoptic_quality_coco.panoptic_quality_coco`,
JSON + PNG files, in its own module) adds **crowd**
regions: a ground-truth segment with ``iscrowd = 1`` (a dense group of people, say) is never
matched and is no FN, and an unmatched prediction of its category is ignored when its pixels on
void *plus* on that crowd region are more than half its area.

This follows ``pq_compute.py`` of panopticapi (COCO's reference) and is tested against a port of
it and against ``torchmetrics.detection.PanopticQuality``. Where torchmetrics differs:

- **Void in the prediction.** torchmetrics also leaves out of the union the *ground-truth* pixels
  that the prediction marks void, and counts no FN for a ground-truth segment lying more than
  half on predicted void. panopticapi (and segedu) do neither: a segment the model leaves
  unlabelled is missed. With no void pixel in the prediction both agree.
- **Unknown predicted categories** raise in torchmetrics unless ``allow_unknown_preds_category``;
  here they are void, as the prediction's id 0 of panopticapi (pass ``void_category`` to refuse
  any other unknown category instead).
- **An** ``(H, W, 2)`` **input** is one image here; torchmetrics reads its first dimension as the
  batch (``H`` images of ``W`` pixels). Give torchmetrics ``(1, H, W, 2)``.
- **A category that never occurs** gets NaN per-class values here (0 in torchmetrics and
  panopticapi); the averages skip it in all three. With no category at all, panopticapi divides
  by zero; torchmetrics and segedu give NaN.
- **Precision.** torchmetrics divides its integer pixel counts with ``/``, which rounds each IoU
  to float32 before adding it to a float64 sum: its figures agree with panopticapi's (and
  segedu's, float64 throughout) to about 1e-7. It also computes PQ per category as ``SQ * RQ``,
  panopticapi and segedu as ``iou_sum / (TP + FP/2 + FN/2)``: equal up to rounding.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import torch

from ..nn import distinct_pairs

__all__ = ["panoptic_quality", "PanopticQuality", "image_stats", "quality_from_counts"]


# --------------------------------------------------------------------------------------------
# argument checks


def _check_categories(
    things: Collection[int], stuffs: Collection[int], void_category: int | None
) -> tuple[list[int], set[int]]:
    """All category ids sorted, and the set of thing ids; errors for bad ``things``/``stuffs``."""
    parsed = []
    for name, values in (("things", things), ("stuffs", stuffs)):
        if isinstance(values, str | bytes) or not isinstance(values, Collection):
            raise TypeError(f"{name} must be a collection of integer category ids, got {values!r}")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"{name} must hold integer category ids, got {value!r}")
        parsed.append({int(value) for value in values})
    thing_set, stuff_set = parsed
    if thing_set & stuff_set:
        raise ValueError(f"things and stuffs share the categories {sorted(thing_set & stuff_set)}")
    if not thing_set | stuff_set:
        raise ValueError("things and stuffs are both empty: there is no category to score")
    if void_category is not None:
        if isinstance(void_category, bool) or not isinstance(void_category, int | np.integer):
            raise TypeError(f"void_category must be an integer or None, got {void_category!r}")
        if void_category in thing_set | stuff_set:
            raise ValueError(f"void_category {void_category} is also a thing or stuff category")
    return sorted(thing_set | stuff_set), thing_set


def _check_panoptic(name: str, x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor of (category_id, instance_id) pairs, got {type(x).__name__}"
        )
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer (category_id, instance_id) pairs, got {x.dtype}")
    if x.ndim not in (3, 4) or x.shape[-1] != 2:
        raise ValueError(
            f"{name} must have shape (H, W, 2) or (B, H, W, 2) of (category_id, instance_id), "
            f"got {tuple(x.shape)}"
        )


def _check_inputs(pred: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``pred`` and ``target`` as ``(B, H, W, 2)`` int64 CPU tensors."""
    _check_panoptic("pred", pred)
    _check_panoptic("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if pred.ndim == 3:  # one image (H, W, 2) -> a batch of one
        pred, target = pred[None], target[None]
    # the matching works on a few hundred segments per image: the CPU does it well, exactly
    return pred.detach().long().cpu(), target.detach().long().cpu()


def _check_unknown(name: str, x: torch.Tensor, categories: list[int], void_category: int) -> None:
    """With a ``void_category``, any other category outside things and stuffs is an error."""
    allowed = torch.tensor([*categories, void_category])
    unknown = torch.unique(x[..., 0][~torch.isin(x[..., 0], allowed)])
    if unknown.numel():
        raise ValueError(
            f"{name} has categories {unknown.tolist()} that are neither things, stuffs nor "
            f"void_category={void_category}"
        )


# --------------------------------------------------------------------------------------------
# the core: one image, segments already numbered


def image_stats(
    gt_ids: torch.Tensor,
    pred_ids: torch.Tensor,
    gt_category: torch.Tensor,
    pred_category: torch.Tensor,
    gt_crowd: torch.Tensor,
    num_categories: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """IoU sum, TP, FP, FN per category (each ``(K,)``) of one image.

    Args:
        gt_ids, pred_ids: ``(P,)`` int64, the segment of each pixel: ``0`` is void, ``1..G``
            (``1..S``) the ground-truth (predicted) segments.
        gt_category, pred_category: ``(G + 1,)``, ``(S + 1,)`` int64 category index in
            ``[0, K)`` of each segment (entry 0, void, is unused).
        gt_crowd: ``(G + 1,)`` bool, ground-truth crowd segments (COCO's ``iscrowd``).
        num_categories: ``K``.
    """
    n_gt, n_pred = gt_category.numel(), pred_category.numel()  # segments + 1 (void)
    # 1. contingency table: overlap[g, p] = pixels of gt segment g in predicted segment p
    overlap = torch.bincount(gt_ids * n_pred + pred_ids, minlength=n_gt * n_pred)
    overlap = overlap.reshape(n_gt, n_pred)
    gt_area, pred_area = overlap.sum(dim=1), overlap.sum(dim=0)
    pred_on_void = overlap[0, 1:]  # (S,) predicted pixels on ground-truth void
    gt_category, pred_category, gt_crowd = gt_category[1:], pred_category[1:], gt_crowd[1:]
    intersection = overlap[1:, 1:]  # (G, S) real segments only

    # 2. IoU of every pair, the prediction's pixels on ground-truth void left out of the union
    union = gt_area[1:, None] + pred_area[None, 1:] - intersection - pred_on_void[None, :]
    same_category = gt_category[:, None] == pred_category[None, :]
    # 3. a match: same category, not a crowd region, IoU > 1/2 (in integers: 2 I > U, exact)
    matched = same_category & ~gt_crowd[:, None] & (2 * intersection > union)
    gt_index, pred_index = matched.nonzero(as_tuple=True)
    iou = intersection[gt_index, pred_index].double() / union[gt_index, pred_index].double()

    # 4. counts per category
    def per_category(index: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return torch.bincount(index, weights=weights, minlength=num_categories)

    iou_sum = per_category(gt_category[gt_index], iou).double()
    tp = per_category(gt_category[gt_index])
    # FN: a ground-truth segment left unmatched, crowd regions excepted
    gt_missed = ~matched.any(dim=1) & ~gt_crowd
    fn = per_category(gt_category[gt_missed])
    # FP: a prediction left unmatched, unless more than half of it lies on void or on a crowd
    # region of its own category
    on_crowd = (intersection * (same_category & gt_crowd[:, None])).sum(dim=0)
    ignored = 2 * (pred_on_void + on_crowd) > pred_area[1:]
    pred_wrong = ~matched.any(dim=0) & ~ignored
    fp = per_category(pred_category[pred_wrong])
    return iou_sum, tp, fp, fn


def _segments_of(
    panoptic: torch.Tensor, categories: torch.Tensor, is_stuff: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Number the segments of one ``(H, W, 2)`` image.

    Returns the segment of each pixel ``(H * W,)`` (0 void, 1..S) and the category index of each
    segment ``(S + 1,)`` (entry 0 is -1).
    """
    pixels = panoptic.reshape(-1, 2)
    category, instance = pixels[:, 0].contiguous(), pixels[:, 1].contiguous()
    # 1. category index in [0, K) of each pixel; unknown categories are void
    index = torch.searchsorted(categories, category).clamp(max=categories.numel() - 1)
    known = categories[index] == category
    # 2. a stuff category is one segment: forget its instance ids
    instance = torch.where(is_stuff[index], torch.zeros_like(instance), instance)
    # 3. one segment per (category, instance) pair among the known pixels
    unique_pairs, inverse = distinct_pairs(index[known], instance[known], return_inverse=True)
    ids = torch.zeros_like(category)
    ids[known] = inverse + 1
    segment_category = torch.cat([torch.tensor([-1]), unique_pairs[:, 0]])
    return ids, segment_category


def _batch_stats(
    pred: torch.Tensor, target: torch.Tensor, categories: list[int], things: set[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-category IoU sum, TP, FP, FN added over a ``(B, H, W, 2)`` batch (CPU, checked)."""
    category_ids = torch.tensor(categories)
    is_stuff = torch.tensor([c not in things for c in categories])
    k = len(categories)
    iou_sum = torch.zeros(k, dtype=torch.float64)
    tp, fp, fn = (torch.zeros(k, dtype=torch.int64) for _ in range(3))
    for pred_image, target_image in zip(pred, target, strict=True):  # images never mix
        pred_ids, pred_category = _segments_of(pred_image, category_ids, is_stuff)
        gt_ids, gt_category = _segments_of(target_image, category_ids, is_stuff)
        no_crowd = torch.zeros(gt_category.numel(), dtype=torch.bool)
        stats = image_stats(gt_ids, pred_ids, gt_category, pred_category, no_crowd, k)
        iou_sum += stats[0]
        tp += stats[1]
        fp += stats[2]
        fn += stats[3]
    return iou_sum, tp, fp, fn


# --------------------------------------------------------------------------------------------
# from the counts to the figures


def quality_from_counts(
    iou_sum: torch.Tensor,
    tp: torch.Tensor,
    fp: torch.Tensor,
    fn: torch.Tensor,
    categories: list[int],
    things: set[int],
) -> dict[str, Any]:
    """The result dict from the per-category ``(K,)`` sums (see :func:`panoptic_quality`)."""
    per_class, occurring = {}, []
    for i, category in enumerate(categories):
        s, t, p, n = float(iou_sum[i]), int(tp[i]), int(fp[i]), int(fn[i])
        if t + p + n == 0:  # the category never occurs: no figure, left out of the means
            per_class[category] = {"pq": float("nan"), "sq": float("nan"), "rq": float("nan")}
        else:
            denominator = t + 0.5 * p + 0.5 * n
            per_class[category] = {
                "pq": s / denominator,
                "sq": s / t if t > 0 else 0.0,  # panopticapi: SQ 0 without a match
                "rq": t / denominator,
            }
            occurring.append(category)
        per_class[category].update(tp=t, fp=p, fn=n)

    def mean(key: str, subset: list[int]) -> float:
        values = [per_class[c][key] for c in subset]
        return sum(values) / len(values) if values else float("nan")

    groups = {
        "": occurring,
        "_things": [c for c in occurring if c in things],
        "_stuff": [c for c in occurring if c not in things],
    }
    result: dict[str, Any] = {}
    for suffix, subset in groups.items():
        for key in ("pq", "sq", "rq"):
            result[key + suffix] = mean(key, subset)
        result["n" + suffix] = len(subset)
    result["per_class"] = per_class
    return result


# --------------------------------------------------------------------------------------------
# public API: tensors


def panoptic_quality(
    pred: torch.Tensor,
    target: torch.Tensor,
    things: Collection[int],
    stuffs: Collection[int],
    *,
    void_category: int | None = None,
) -> dict[str, Any]:
    """Panoptic, segmentation and recognition quality of a prediction (module docstring).

    Args:
        pred: ``(H, W, 2)`` (one image) or ``(B, H, W, 2)`` integer tensor: the
            ``(category_id, instance_id)`` of each pixel, as torchmetrics takes it.
        target: the ground truth, same shape.
        things: category ids of countable things (one segment per instance id).
        stuffs: category ids of stuff (one segment per image, instance ids ignored).
        void_category: ``None`` (default): every category outside ``things`` and ``stuffs`` is
            void, in ``pred`` and ``target``. An id: that category is void and any other
            unknown category raises ``ValueError`` (catches off-by-one category ids).

    Returns:
        A dict of Python floats, over the whole batch: ``pq``, ``sq``, ``rq`` (means over the
        categories with TP + FP + FN > 0; NaN when there is none), ``pq_things``,
        ``sq_things``, ``rq_things``, ``pq_stuff``, ``sq_stuff``, ``rq_stuff``, the numbers of
        categories averaged ``n``, ``n_things``, ``n_stuff``, and ``per_class``:
        ``{category_id: {"pq", "sq", "rq", "tp", "fp", "fn"}}`` for every category of
        ``things`` and ``stuffs`` (``pq``, ``sq``, ``rq`` NaN for one that never occurs).

    >>> car = torch.tensor([[[1, 1], [1, 1]], [[0, 0], [0, 0]]])  # (2, 2, 2): car over road
    >>> panoptic_quality(car, car, things={1}, stuffs={0})["pq"]
    1.0
    """
    categories, thing_set = _check_categories(things, stuffs, void_category)
    pred, target = _check_inputs(pred, target)
    if void_category is not None:
        _check_unknown("pred", pred, categories, void_category)
        _check_unknown("target", target, categories, void_category)
    stats = _batch_stats(pred, target, categories, thing_set)
    return quality_from_counts(*stats, categories, thing_set)


class PanopticQuality:
    """Panoptic quality accumulated over batches: ``update`` each batch, then ``compute``.

    The state is four ``(K,)`` tensors for the ``K`` categories of ``things`` and ``stuffs``
    (sorted by id): ``iou_sum`` (float64; float32 on Apple's MPS, which has no float64) and the
    ``tp``, ``fp``, ``fn`` counts (int64). They add up over images, batches and the processes of a
    multi-GPU run, and live on the device of the data (the matching itself runs on the CPU).

    Args:
        things, stuffs, void_category: as in :func:`panoptic_quality`.

    >>> metric = PanopticQuality(things={1, 2}, stuffs={0})
    >>> for pred, target in batches:        # doctest: +SKIP
    ...     metric.update(pred, target)     # (B, H, W, 2) each
    >>> metric.compute()                    # doctest: +SKIP
    tensor(0.7512, dtype=torch.float64)
    >>> metric.compute_all()["pq_things"]   # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        things: Collection[int],
        stuffs: Collection[int],
        void_category: int | None = None,
    ) -> None:
        self.categories, self.things = _check_categories(things, stuffs, void_category)
        self.void_category = void_category
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the states keep their device)."""
        device = self.tp.device if hasattr(self, "tp") else torch.device("cpu")
        k = len(self.categories)
        self.iou_sum = torch.zeros(k, dtype=_float_dtype(device), device=device)
        self.tp = torch.zeros(k, dtype=torch.int64, device=device)
        self.fp = torch.zeros(k, dtype=torch.int64, device=device)
        self.fn = torch.zeros(k, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch ``(B, H, W, 2)`` (or one image ``(H, W, 2)``) of predictions and targets."""
        device = target.device if isinstance(target, torch.Tensor) else self.tp.device
        pred, target = _check_inputs(pred, target)
        if self.void_category is not None:
            _check_unknown("pred", pred, self.categories, self.void_category)
            _check_unknown("target", target, self.categories, self.void_category)
        if self.tp.device != device:  # the states follow the data to its device
            self.iou_sum = self.iou_sum.to(device, _float_dtype(device))
            self.tp, self.fp, self.fn = (s.to(device) for s in (self.tp, self.fp, self.fn))
        iou_sum, tp, fp, fn = _batch_stats(pred, target, self.categories, self.things)
        self.iou_sum += iou_sum.to(device, self.iou_sum.dtype)
        self.tp += tp.to(device)
        self.fp += fp.to(device)
        self.fn += fn.to(device)

    def compute_all(self) -> dict[str, Any]:
        """The full result dict of :func:`panoptic_quality` over every batch since the reset."""
        states = (s.cpu() for s in (self.iou_sum.double(), self.tp, self.fp, self.fn))
        return quality_from_counts(*states, self.categories, self.things)

    def compute(self) -> torch.Tensor:
        """PQ over every batch since the last reset, a scalar tensor (NaN before any segment)."""
        return torch.tensor(self.compute_all()["pq"], dtype=self.iou_sum.dtype)

    def states(self) -> dict[str, torch.Tensor]:
        """The state tensors themselves (not copies): their sum over processes is the total."""
        return {"iou_sum": self.iou_sum, "tp": self.tp, "fp": self.fp, "fn": self.fn}

    def __repr__(self) -> str:
        return (
            f"PanopticQuality(things={sorted(self.things)}, "
            f"stuffs={[c for c in self.categories if c not in self.things]}, "
            f"void_category={self.void_category})"
        )


def _float_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64
