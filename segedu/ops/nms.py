r"""Non-maximum suppression (NMS): keep the best box of each cluster of overlapping boxes.

A detector proposes many boxes around each object. Greedy NMS keeps the highest-scoring box,
removes every remaining box that overlaps it by more than ``iou_threshold``, and repeats with
the best box left:

1. sort the boxes by score, highest first;
2. take the first box that is not suppressed, keep it;
3. suppress every later box ``j`` with :math:`\mathrm{IoU}(\text{kept}, j) > \text{iou\_threshold}`
   (strictly greater: a box whose IoU *equals* the threshold survives);
4. go on with step 2 until the list is exhausted.

The result is the indices of the kept boxes, in decreasing order of score.

**Ties.** Boxes with equal scores are visited in the order of their index: the sort is stable,
as in torchvision's CPU kernel (checked against it in the tests). On a GPU, torchvision does not
promise any order among equal scores.

**Two implementations.** :func:`nms_reference` is the readable Python loop above, which the lab
walks through. :func:`nms` calls torchvision's compiled kernel by default
(``implementation="torchvision"``), the one to use on hot paths, and the loop with
``implementation="reference"``; the tests prove that the two return the same indices.

**Per class.** :func:`batched_nms` never lets a box of one class suppress a box of another.
The reference loops over the classes (clear, and the same result); the torchvision path uses
torchvision's ``batched_nms`` (the *coordinate-offset trick*: shift each class's boxes by
``class * (max_coordinate + 1)`` so that boxes of different classes never overlap, then run a
single NMS).
"""

from __future__ import annotations

import torch
import torchvision

__all__ = ["nms", "nms_reference", "batched_nms", "batched_nms_reference", "IMPLEMENTATIONS"]

IMPLEMENTATIONS = ("torchvision", "reference")


def _check_nms_inputs(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> None:
    """Clear errors for what torchvision would reject with a terse message.

    Floating-point boxes and scores of one dtype, or (as :func:`torchvision.ops.nms`) both
    quantized (``torch.quint8``, e.g. from :func:`torch.quantize_per_tensor`).
    """
    for name, t in (("boxes", boxes), ("scores", scores)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if not (t.is_floating_point() or t.is_quantized):
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"scores must have shape (N,) with N = {boxes.shape[0]} boxes, "
            f"got {tuple(scores.shape)}"
        )
    if boxes.dtype != scores.dtype:
        raise TypeError(
            f"boxes and scores must have the same dtype, got {boxes.dtype} and {scores.dtype}"
        )
    if not isinstance(iou_threshold, (int, float)) or isinstance(iou_threshold, bool):
        raise TypeError(f"iou_threshold must be a number, got {type(iou_threshold).__name__}")


def _check_implementation(implementation: str) -> None:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")


def _iou_one_to_many(box: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    r"""IoU of one ``xyxy`` box ``(4,)`` with boxes ``(M, 4)`` -> ``(M,)``.

    Written out as torchvision's kernel computes it (same operations in the same order, so the
    same rounding): :math:`\frac{w h}{|A| + |B| - w h}` with ``w, h`` the clamped overlap.
    Half-precision boxes are compared in float32, as torchvision's CUDA kernel accumulates them
    (``at::acc_type``): a float16 area overflows to ``inf`` above 65,504 (a 256 x 256 box), and
    every IoU would then be NaN, suppressing nothing.
    """
    if box.dtype in (torch.float16, torch.bfloat16):
        box, others = box.float(), others.float()
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    w = (torch.minimum(box[2], others[:, 2]) - torch.maximum(box[0], others[:, 0])).clamp(min=0)
    h = (torch.minimum(box[3], others[:, 3]) - torch.maximum(box[1], others[:, 1])).clamp(min=0)
    inter = w * h
    return inter / (area + areas - inter)


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS written as a plain loop (see the module docstring for the algorithm).

    Args:
        boxes: ``(N, 4)`` boxes in ``xyxy`` format, floating point.
        scores: ``(N,)`` scores, same dtype.
        iou_threshold: a box is suppressed when its IoU with a kept box is ``> iou_threshold``.

    Returns:
        int64 tensor ``(K,)``: indices of the kept boxes, highest score first.

    Quantized boxes and scores are compared by their real values (:meth:`~torch.Tensor.dequantize`);
    torchvision's quantized kernel works on the stored integers, whose differences, and so IoUs and
    score order, are the same up to the common scale.
    """
    _check_nms_inputs(boxes, scores, iou_threshold)
    if boxes.is_quantized:
        boxes, scores = boxes.dequantize(), scores.dequantize()
    # 1. visit the boxes from the highest score down; equal scores in index order (stable sort)
    order = torch.sort(scores, descending=True, stable=True).indices
    suppressed = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    keep = []
    for position in range(len(order)):
        i = int(order[position])
        # 2. a box that an earlier, better box suppressed is skipped
        if suppressed[i]:
            continue
        keep.append(i)
        # 3. suppress the later boxes that overlap box i too much (strictly more than the threshold)
        later = order[position + 1 :]
        # compared in float64, as torchvision's C++ kernel compares its float IoU with the double
        # threshold: in float32, 0.8 would round to 0.800000012 and an IoU of exactly that value
        # would survive here while torchvision suppresses it
        overlap = _iou_one_to_many(boxes[i], boxes[later]).double()
        suppressed[later[overlap > iou_threshold]] = True
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    *,
    implementation: str = "torchvision",
) -> torch.Tensor:
    """Greedy NMS: indices (int64) of the boxes ``(N, 4)`` kept, highest ``scores (N,)`` first.

    Same arguments and result as :func:`torchvision.ops.nms`. ``implementation="torchvision"``
    (default) runs torchvision's kernel; ``"reference"`` runs :func:`nms_reference`.
    """
    _check_implementation(implementation)
    _check_nms_inputs(boxes, scores, iou_threshold)
    if implementation == "reference":
        return nms_reference(boxes, scores, iou_threshold)
    return torchvision.ops.nms(boxes, scores, float(iou_threshold))


def _check_idxs(idxs: torch.Tensor, boxes: torch.Tensor) -> None:
    if boxes.is_quantized:
        raise TypeError(
            "batched_nms takes floating-point boxes, got quantized ones (torchvision's batched_nms "
            "has no quantized version either): dequantize() them first"
        )
    if not isinstance(idxs, torch.Tensor):
        raise TypeError(f"idxs must be a tensor, got {type(idxs).__name__}")
    if idxs.is_floating_point() or idxs.is_complex():
        raise TypeError(f"idxs must hold integer class indices, got {idxs.dtype}")
    if idxs.shape != (boxes.shape[0],):
        raise ValueError(
            f"idxs must have shape (N,) with N = {boxes.shape[0]}, got {tuple(idxs.shape)}"
        )


def _no_boxes(boxes, scores, idxs) -> bool:
    """Whether ``batched_nms`` got no box at all: ``boxes`` a tensor without elements.

    torchvision's ``batched_nms`` then returns an empty result whatever the rest is: boxes of any
    dtype and shape (``(0, 4)`` or ``(0,)``), and ``scores``, ``idxs`` and ``iou_threshold`` not
    looked at (its own test passes ``None`` for all three). segedu accepts the same, except that a
    ``scores`` or ``idxs`` tensor *with* elements contradicts the empty boxes and is an error.
    """
    if not isinstance(boxes, torch.Tensor) or boxes.numel() != 0:
        return False
    for name, t in (("scores", scores), ("idxs", idxs)):
        if isinstance(t, torch.Tensor) and t.numel() != 0:
            raise ValueError(
                f"{name} has {t.numel()} elements, but boxes is empty {tuple(boxes.shape)}"
            )
    return True


def batched_nms_reference(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """NMS within each class separately, as a loop over the classes.

    Args:
        boxes: ``(N, 4)`` ``xyxy`` boxes; scores: ``(N,)``.
        idxs: ``(N,)`` integer class of each box.
        iou_threshold: as in :func:`nms_reference`.

    Returns:
        int64 ``(K,)``: indices of the kept boxes, sorted by decreasing score over all classes
        (equal scores in index order).
    """
    _check_nms_inputs(boxes, scores, iou_threshold)
    _check_idxs(idxs, boxes)
    kept = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    for class_id in torch.unique(idxs):
        members = torch.where(idxs == class_id)[0]  # the boxes of this class
        survivors = nms_reference(boxes[members], scores[members], iou_threshold)
        kept[members[survivors]] = True
    keep = torch.where(kept)[0]  # increasing index ...
    order = torch.sort(scores[keep], descending=True, stable=True).indices  # ... then by score
    return keep[order]


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    iou_threshold: float,
    *,
    implementation: str = "torchvision",
) -> torch.Tensor:
    """Per-class NMS: a box only suppresses boxes with the same ``idxs`` value.

    Same arguments and result as :func:`torchvision.ops.batched_nms`.
    ``implementation="torchvision"`` (default) runs torchvision's function (coordinate-offset
    trick); ``"reference"`` runs :func:`batched_nms_reference` (a loop over the classes).
    """
    _check_implementation(implementation)
    if _no_boxes(boxes, scores, idxs):
        # torchvision returns an empty result for empty boxes before looking at anything else
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    _check_nms_inputs(boxes, scores, iou_threshold)
    _check_idxs(idxs, boxes)
    if implementation == "reference":
        return batched_nms_reference(boxes, scores, idxs, iou_threshold)
    return torchvision.ops.batched_nms(boxes, scores, idxs, float(iou_threshold))
