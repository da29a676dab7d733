"""Which anchor learns which object: YOLACT's (SSD's) IoU matching, and OHEM for the negatives.

**Matching.** Every anchor is compared with every ground-truth box by IoU. An anchor whose best IoU
is ``>= 0.5`` is a *positive* for that box; below ``0.4`` it is a *negative* (background); in
between it is ignored (it neither learns an object nor background). So that no object goes
unlearned, each ground-truth box also gets its best anchor, whatever their IoU.

**Online hard example mining (OHEM).** An image has tens of thousands of anchors and a handful of
objects, so nearly all anchors are easy negatives. The class loss keeps only the negatives the
network gets most wrong (highest background cross-entropy), at most three per positive.
"""

from __future__ import annotations

import torch

from ....ops import box_iou

__all__ = ["BACKGROUND", "IGNORE", "match_anchors", "ohem_negatives"]

BACKGROUND = -1  # an anchor matched to no object
IGNORE = -2  # an anchor whose best IoU is between the thresholds


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, *, positive_threshold: float = 0.5,
                  negative_threshold: float = 0.4) -> torch.Tensor:
    """Match each anchor to a ground-truth box.

    Args:
        anchors: ``(A, 4)`` ``xyxy``.
        gt_boxes: ``(M, 4)`` ``xyxy``, same units.
        positive_threshold, negative_threshold: the IoU thresholds (0.5 and 0.4 in the paper).

    Returns:
        ``(A,)`` int64: the index of the matched box (``0 .. M - 1``), :data:`BACKGROUND` (-1)
        or :data:`IGNORE` (-2).
    """
    if anchors.ndim != 2 or anchors.shape[1] != 4 or gt_boxes.ndim != 2 or gt_boxes.shape[1] != 4:
        raise ValueError("anchors and gt_boxes must be (A, 4) and (M, 4), got "
                         f"{tuple(anchors.shape)} and {tuple(gt_boxes.shape)}")
    if not negative_threshold <= positive_threshold:
        raise ValueError(f"need negative_threshold <= positive_threshold, got {negative_threshold} "
                         f"and {positive_threshold}")
    matches = torch.full((len(anchors),), BACKGROUND, dtype=torch.int64, device=anchors.device)
    if len(gt_boxes) == 0:  # no objects: every anchor is background
        return matches
    iou = box_iou(gt_boxes, anchors)  # (M, A)
    # each anchor's best box
    best_iou, best_gt = iou.max(dim=0)  # (A,), (A,)
    matches = torch.where(best_iou >= positive_threshold, best_gt, matches)
    matches[(best_iou >= negative_threshold) & (best_iou < positive_threshold)] = IGNORE
    # each box's best anchor is its positive, whatever the IoU (later boxes win a shared anchor)
    best_anchor = iou.argmax(dim=1)  # (M,)
    matches[best_anchor] = torch.arange(len(gt_boxes), device=anchors.device)
    return matches


def ohem_negatives(background_loss: torch.Tensor, matches: torch.Tensor, *,
                   negatives_per_positive: int = 3
                   ) -> torch.Tensor:
    """Select the hardest negatives of one image.

    Args:
        background_loss: ``(A,)`` the cross-entropy each anchor would have as background
            (``logsumexp(logits) - logits[0]``).
        matches: ``(A,)`` from :func:`match_anchors`.
        negatives_per_positive: the ratio (3 in the paper).

    Returns:
        ``(A,)`` bool: True for the ``min(ratio * #positives, #negatives)`` negatives of
        largest loss.
    """
    if background_loss.shape != matches.shape:
        raise ValueError(f"background_loss and matches must have the same shape (A,), got "
                         f"{tuple(background_loss.shape)} and {tuple(matches.shape)}")
    negative = matches == BACKGROUND
    num_negatives = min(negatives_per_positive * int((matches >= 0).sum()), int(negative.sum()))
    # rank only the negatives: the others get -inf
    loss = background_loss.detach().masked_fill(~negative, float("-inf"))
    chosen = torch.zeros_like(negative)
    chosen[loss.topk(num_negatives).indices] = True
    return chosen
