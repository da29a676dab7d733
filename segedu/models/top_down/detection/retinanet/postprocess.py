"""RetinaNet's inference (Lin et al., ICCV 2017, section 4.1 "Inference"): from ~100,000 anchor
scores to a few hundred detections.

For one image, level by level (``P3`` .. ``P7``):

1. the sigmoid of every (anchor, class) logit is a score of its own: an anchor may score for
   several classes, and the class is the column;
2. **threshold**: scores at or below ``score_thresh`` (0.05) are dropped;
3. **top-k**: of those, the ``topk_candidates`` (1000) best are kept, so the per-level cost no
   longer depends on the anchor count;
4. their anchors' deltas are **decoded** into boxes (:func:`segedu.ops.decode_boxes`) and
   clipped to the image.

Then over all levels together, **batched NMS** (one NMS per class, IoU 0.5;
:func:`segedu.ops.batched_nms`) removes the duplicates, and the ``detections_per_img`` (300)
best remain. Equals torchvision's ``RetinaNet.postprocess_detections``.
"""

from __future__ import annotations

import torch

from .....ops import batched_nms, clip_boxes_to_image, decode_boxes

__all__ = ["retinanet_detections"]


def retinanet_detections(cls_logits: torch.Tensor, bbox_regression: torch.Tensor,
                         anchors: torch.Tensor, image_size: tuple[int, int], *,
                         anchors_per_level: list[int], score_thresh: float, nms_thresh: float,
                         detections_per_img: int,
                         topk_candidates: int) -> dict[str, torch.Tensor]:
    """One image's detections.

    Args:
        cls_logits: ``(R, K)`` logits of every anchor.
        bbox_regression: ``(R, 4)`` deltas.
        anchors: ``(R, 4)`` ``xyxy`` anchors, in the same order.
        image_size: ``(h, w)`` of the resized image, to clip the boxes to.
        anchors_per_level: the ``R`` anchors' split over the levels.
        score_thresh, nms_thresh, detections_per_img, topk_candidates: see the module docstring.

    Returns:
        ``boxes (n, 4)`` ``xyxy``, ``scores (n,)``, ``labels (n,)`` int64, best first.
    """
    boxes, scores, labels = [], [], []
    for logits, deltas, level_anchors in zip(cls_logits.split(anchors_per_level),
                                             bbox_regression.split(anchors_per_level),
                                             anchors.split(anchors_per_level), strict=True):
        num_classes = logits.shape[-1]
        # 1-2. one score per (anchor, class), thresholded: flat index = anchor * K + class
        level_scores = torch.sigmoid(logits).flatten()  # (R_l * K,)
        keep = level_scores > score_thresh
        level_scores = level_scores[keep]
        flat_index = torch.where(keep)[0]
        # 3. the best topk_candidates of this level
        level_scores, order = level_scores.topk(min(topk_candidates, flat_index.numel()))
        flat_index = flat_index[order]
        anchor_index = torch.div(flat_index, num_classes, rounding_mode="floor")
        # 4. decode the kept anchors' boxes, clip them to the image
        level_boxes = decode_boxes(deltas[anchor_index], level_anchors[anchor_index])
        boxes.append(clip_boxes_to_image(level_boxes, image_size))
        scores.append(level_scores)
        labels.append(flat_index % num_classes)
    boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
    # 5. NMS per class over all levels, then the best detections_per_img
    keep = batched_nms(boxes, scores, labels, nms_thresh)[:detections_per_img]
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}
