r"""DETR's boxes in and out: the training boxes of a panoptic ground truth, and the detections.

DETR (Carion et al., ECCV 2020) predicts boxes ``(cx, cy, w, h)`` relative to the image, in
``[0, 1]``. Its two ends of the universal contract (:mod:`segedu.models.universal.base`):

- :func:`panoptic_box_targets`: the training target of one image from its panoptic map. Every
  segment whose category is one of the model's classes gets a box, *stuff as well as things*: the
  paper trains DETR for panoptic segmentation "to predict boxes around both stuff and things
  classes" (Sec. 4.4), a box around all of a segment's pixels, however scattered. The box runs
  along the pixels' outer edges (``x2, y2`` one past the last pixel, as
  :func:`segedu.ops.masks_to_boxes` with ``pixel_edges=True`` and Mask2Former's read-out here);
  DETR's dataset code takes ``x2, y2`` at the last pixel itself (``util.box_ops.masks_to_boxes``,
  as ``torchvision.ops.masks_to_boxes``), one pixel less, so that a one-pixel-wide segment has a
  box of width 0.
- :func:`box_detections`: the detections of a batch of outputs, as facebookresearch/detr's
  ``PostProcess`` and ``transformers``' ``DetrImageProcessor.post_process_object_detection``:
  each query's best class other than "no object" and its softmax probability, its box as
  ``xyxy`` scaled to the image's size; the queries whose score exceeds ``threshold``, in query
  order.
"""

from __future__ import annotations

import torch

from ....ops import box_convert, masks_to_boxes
from ..set_prediction import check_box_outputs

__all__ = ["panoptic_box_targets", "box_detections"]


def panoptic_box_targets(masks: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``masks (M, H, W)`` bool of the segments and their ``labels (M,)`` -> ``{"labels": (M,)
    int64, "boxes": (M, 4)}`` float32 ``(cx, cy, w, h)`` relative to the image (see the module
    docstring)."""
    height, width = masks.shape[-2:]
    corners = masks_to_boxes(masks, pixel_edges=True)  # (M, 4) xyxy, pixel edges
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    return {"labels": labels.long().clone(),
            "boxes": box_convert(corners / scale, "xyxy", "cxcywh")}


def box_detections(outputs: dict, *, output_size: tuple[int, int] | None = None,
                   threshold: float = 0.0) -> list[dict[str, torch.Tensor]]:
    """One dict per image of DETR's ``outputs`` (``pred_logits (B, Q, K + 1)``, ``pred_boxes
    (B, Q, 4)``): ``scores (n,)``, ``labels (n,)`` int64 and ``boxes (n, 4)`` ``xyxy``, in pixels
    of ``output_size = (H, W)`` or relative to the image (``None``), for the ``n`` queries whose
    score exceeds ``threshold`` (0: all of them, as DETR evaluates), in query order."""
    check_box_outputs(outputs)
    if output_size is not None and (len(output_size) != 2 or min(output_size) < 1):
        raise ValueError(f"output_size must be (H, W) with positive sides, got {output_size!r}")
    probs = outputs["pred_logits"].softmax(-1)[..., :-1]  # (B, Q, K): "no object" left out
    scores, labels = probs.max(-1)
    boxes = box_convert(outputs["pred_boxes"], "cxcywh", "xyxy")
    if output_size is not None:
        height, width = output_size
        boxes = boxes * boxes.new_tensor([width, height, width, height])
    keep = scores > threshold
    return [{"scores": s[k], "labels": c[k], "boxes": b[k]}
            for s, c, b, k in zip(scores, labels, boxes, keep, strict=True)]
