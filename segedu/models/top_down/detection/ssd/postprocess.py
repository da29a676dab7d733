"""SSD's inference (Liu et al., ECCV 2016, section 3, "Inference"): from 8,732 default boxes to
at most 200 detections per image.

1. decode every default box's deltas (weights ``(10, 10, 5, 5)``) and clip to the image;
2. a softmax over the ``K`` classes (background included) gives each box one probability per
   class;
3. for each object class (not the background), the boxes above ``score_thresh`` (0.01), of them
   the ``topk_candidates`` (400) best;
4. NMS per class (IoU 0.45; :func:`segedu.ops.batched_nms`), then the ``detections_per_img``
   (200) best overall.

A box may thus be reported for several classes. Equals torchvision's
``SSD.postprocess_detections``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .....ops import batched_nms, clip_boxes_to_image, decode_boxes
from .loss import SSD_BOX_WEIGHTS

__all__ = ["ssd_detections"]


def ssd_detections(cls_logits: torch.Tensor, bbox_regression: torch.Tensor,
                   anchors: torch.Tensor, image_size: tuple[int, int], *, score_thresh: float,
                   nms_thresh: float, detections_per_img: int,
                   topk_candidates: int) -> dict[str, torch.Tensor]:
    """One image's detections from ``cls_logits (R, K)``, ``bbox_regression (R, 4)`` and the
    default boxes ``anchors (R, 4)`` ``xyxy`` of the ``image_size (h, w)`` batch:
    ``boxes (n, 4)``, ``scores (n,)``, ``labels (n,)`` int64 (1 .. K - 1), best first."""
    # 1. every default box decoded and clipped
    boxes = clip_boxes_to_image(decode_boxes(bbox_regression, anchors, SSD_BOX_WEIGHTS),
                                image_size)
    # 2. class probabilities, background included
    probabilities = F.softmax(cls_logits, dim=-1)  # (R, K)
    kept_boxes, kept_scores, kept_labels = [], [], []
    for label in range(1, probabilities.shape[-1]):
        # 3. this class's boxes above the threshold, the best topk_candidates of them
        score = probabilities[:, label]
        keep = score > score_thresh
        score, box = score[keep], boxes[keep]
        score, order = score.topk(min(topk_candidates, score.numel()))
        kept_boxes.append(box[order])
        kept_scores.append(score)
        kept_labels.append(torch.full_like(score, fill_value=label, dtype=torch.int64))
    boxes = torch.cat(kept_boxes)
    scores, labels = torch.cat(kept_scores), torch.cat(kept_labels)
    # 4. NMS per class, the best detections_per_img overall
    keep = batched_nms(boxes, scores, labels, nms_thresh)[:detections_per_img]
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}
