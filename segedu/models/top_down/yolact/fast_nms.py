"""YOLACT's Fast NMS: non-maximum suppression as one matrix operation.

Standard NMS is sequential: take the best box, remove the boxes that overlap it, repeat with the
best *remaining* box. Fast NMS drops the "remaining": for each class, sort the boxes by score,
compute the IoU matrix ``X`` of all pairs, keep its upper triangle (``X[i, j]`` with ``i < j``: box
``i`` scores higher than box ``j``) and suppress box ``j`` when ``max_i X[i, j] > threshold``. A box
that was itself suppressed can still suppress others, so Fast NMS removes every box that standard
NMS removes, and sometimes a few more; in exchange it runs as a handful of batched tensor
operations (the paper: 12 ms faster than Cython NMS for a 0.1 mAP loss).
"""

from __future__ import annotations

import torch

from ....ops import box_iou

__all__ = ["fast_nms"]


def fast_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
             iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes that Fast NMS keeps, by decreasing score (as ``batched_nms``).

    Args:
        boxes: ``(R, 4)`` ``xyxy``; scores: ``(R,)``; labels: ``(R,)`` integer classes (boxes of
            different classes never suppress each other).
        iou_threshold: suppress a box whose IoU with a higher-scoring box of its class exceeds this.
    """
    if (boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (len(boxes),)
        or labels.shape != (len(boxes),)):
        raise ValueError("need boxes (R, 4), scores (R,) and labels (R,), got "
                         f"{tuple(boxes.shape)}, {tuple(scores.shape)} and {tuple(labels.shape)}")
    # 1. sort by score, best first
    order = scores.argsort(descending=True)  # (R,)
    boxes, labels = boxes[order], labels[order]
    # 2. IoU of every pair of the same class; keep i < j only (i scores higher)
    iou = box_iou(boxes, boxes) * (labels[:, None] == labels[None, :])  # (R, R)
    iou = iou.triu(diagonal=1)
    # 3. a box survives when no higher-scoring box of its class overlaps it too much
    keep = (iou.max(dim=0).values <= iou_threshold if len(boxes)
            else torch.zeros(0, dtype=torch.bool))
    return order[keep]
