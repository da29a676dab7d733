r"""YOLACT's training loss: class, box and mask terms (and an optional semantic segmentation term).

For a batch with :math:`N_{pos}` positive anchors in all (see :mod:`.matching`):

- **class**: softmax cross-entropy over the positives (their object's class) and the OHEM-chosen
  negatives (background, at most 3 per positive), summed and divided by :math:`N_{pos}`;
- **box**: smooth L1 between the positives' predicted deltas and the deltas that move their anchor
  onto their box (:func:`segedu.ops.encode_boxes`, SSD's variances ``(0.1, 0.1, 0.2, 0.2)``, i.e.
  weights ``(10, 10, 5, 5)``), summed over the four numbers and the positives, over :math:`N_{pos}`;
- **mask**: for each positive, its assembled mask :math:`\sigma(P c^\top)` against its object's mask
  (downsampled to the prototypes' size), as a pixel-wise binary cross-entropy kept **inside the
  ground-truth box** only and divided by the box's area (so that small objects weigh as much as
  large ones), summed over the positives, over :math:`N_{pos}`;
- **semantic** (optional, training only): a 1x1 convolution on ``P3`` predicts one map per
  foreground class, trained with a per-pixel sigmoid cross-entropy, averaged over the pixels and
  the images. It only shapes the shared features.

The terms are weighted as the paper's code: 1 (class), 1.5 (box), 6.125 (mask), 1 (semantic).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ....losses import binary_cross_entropy_with_logits, cross_entropy, smooth_l1_loss
from ....ops import encode_boxes
from .assemble import box_crop_masks, mask_logits
from .matching import match_anchors, ohem_negatives

__all__ = ["BOX_CODER_WEIGHTS", "downsample_masks", "yolact_loss"]

BOX_CODER_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # SSD's variances 0.1 (centre) and 0.2 (size)


def downsample_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Binary ``(M, H, W)`` masks -> ``(M, h, w)`` float 0/1: a coarse pixel is foreground when at
    least half of the fine pixels it covers are (area averaging, then ``>= 0.5``)."""
    if masks.numel() == 0:
        return masks.new_zeros((masks.shape[0], *size), dtype=torch.float32)
    # (M, h, w) fractions
    area = F.interpolate(masks[:, None].float(), size=size, mode="area")[:, 0]
    return (area >= 0.5).float()


def yolact_loss(*, class_logits: torch.Tensor, box_deltas: torch.Tensor, coefficients: torch.Tensor,
                prototypes: torch.Tensor, anchors: torch.Tensor,
                targets: Sequence[dict[str, torch.Tensor]],
                semantic_logits: torch.Tensor | None = None, positive_threshold: float = 0.5,
                negative_threshold: float = 0.4, negatives_per_positive: int = 3,
                max_masks_per_image: int = 100, class_weight: float = 1.0, box_weight: float = 1.5,
                mask_weight: float = 6.125,
                semantic_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """The YOLACT loss of a batch.

    Args (keyword-only):
        class_logits: ``(N, R, C)``; box_deltas: ``(N, R, 4)``; coefficients: ``(N, R, k)``: the
            head's outputs for the ``R`` anchors.
        prototypes: ``(N, k, h, w)``; their stride is ``H / h`` for images of height ``H``.
        anchors: ``(R, 4)`` ``xyxy`` in image pixels.
        targets: one dict per image with ``boxes (M, 4)`` ``xyxy`` pixels, ``labels (M,)`` in
            ``1 .. C - 1`` and ``masks (M, H, W)`` (the size of the batch's images).
        semantic_logits: ``(N, C - 1, hs, ws)`` or ``None`` (no semantic term).
        max_masks_per_image: at most this many positives per image (a random choice) enter the
            mask loss, which bounds its memory (100 in the paper).

    Returns:
        ``{"loss_classifier", "loss_box_reg", "loss_mask"}`` (and ``"loss_semantic"``), scalars.
    """
    n, num_anchors, num_classes = class_logits.shape
    if len(targets) != n:
        raise ValueError(f"got {len(targets)} targets for a batch of {n} images")
    if anchors.shape != (num_anchors, 4):
        raise ValueError(f"anchors must be ({num_anchors}, 4), got {tuple(anchors.shape)}")
    proto_h, proto_w = prototypes.shape[-2:]
    image_h, image_w = targets[0]["masks"].shape[-2:] if n else (proto_h, proto_w)
    stride_y, stride_x = image_h / proto_h, image_w / proto_w  # image pixels per prototype pixel
    to_proto = torch.tensor([1 / stride_x, 1 / stride_y, 1 / stride_x, 1 / stride_y],
                            device=anchors.device)

    loss_class = class_logits.sum() * 0  # zero, but in the graph
    loss_box = box_deltas.sum() * 0
    loss_mask = (coefficients.sum() + prototypes.sum()) * 0
    num_positives = 0
    for i, target in enumerate(targets):
        gt_boxes, gt_labels = target["boxes"].to(anchors.dtype), target["labels"]
        # 1. which anchor learns which box
        matches = match_anchors(anchors, gt_boxes, positive_threshold=positive_threshold,
                                negative_threshold=negative_threshold)  # (R,)
        positive = matches >= 0
        pos_idx = positive.nonzero().squeeze(1)  # (P,)
        matched = matches[pos_idx]  # (P,) index of each positive's box
        num_positives += len(pos_idx)

        # 2. class loss: positives and the hardest negatives
        logits = class_logits[i]  # (R, C)
        # (R,) CE if labelled background
        background_loss = torch.logsumexp(logits, dim=1) - logits[:, 0]
        negative = ohem_negatives(background_loss, matches,
                                  negatives_per_positive=negatives_per_positive)
        chosen = positive | negative
        # background
        class_target = torch.zeros(num_anchors, dtype=torch.int64, device=logits.device)
        class_target[pos_idx] = gt_labels[matched]
        loss_class = loss_class + cross_entropy(logits[chosen], class_target[chosen],
                                                reduction="sum")
        if len(pos_idx) == 0:
            continue

        # 3. box loss: encoded deltas of the positives
        box_target = encode_boxes(gt_boxes[matched], anchors[pos_idx], BOX_CODER_WEIGHTS)  # (P, 4)
        loss_box = loss_box + smooth_l1_loss(box_deltas[i, pos_idx], box_target, reduction="sum")

        # 4. mask loss: assemble each positive's mask, compare inside its ground-truth box
        if len(pos_idx) > max_masks_per_image:
            keep = torch.randperm(len(pos_idx), device=pos_idx.device)[:max_masks_per_image]
            pos_idx, matched = pos_idx[keep], matched[keep]
        gt_masks = downsample_masks(target["masks"], (proto_h, proto_w))[matched]  # (P, h, w)
        logits_m = mask_logits(prototypes[i], coefficients[i, pos_idx])  # (P, h, w)
        boxes_p = gt_boxes[matched] * to_proto  # (P, 4) in prototype pixels
        inside = box_crop_masks(boxes_p, proto_h, proto_w).to(logits_m.dtype)  # (P, h, w)
        bce = binary_cross_entropy_with_logits(logits_m, gt_masks, reduction="none")  # (P, h, w)
        # (P,)
        box_area = ((boxes_p[:, 2] - boxes_p[:, 0]) * (boxes_p[:, 3] - boxes_p[:, 1])).clamp(min=1)
        loss_mask = loss_mask + ((bce * inside).sum(dim=(1, 2)) / box_area).sum()

    # 5. normalise by the number of positives, weight the terms
    num_positives = max(num_positives, 1)
    losses = {
        "loss_classifier": class_weight * loss_class / num_positives,
        "loss_box_reg": box_weight * loss_box / num_positives,
        "loss_mask": mask_weight * loss_mask / num_positives,
    }
    # 6. the semantic term: per foreground class, is this pixel of that class?
    if semantic_logits is not None:
        seg_h, seg_w = semantic_logits.shape[-2:]
        seg_target = torch.zeros_like(semantic_logits)  # (N, C - 1, hs, ws)
        for i, target in enumerate(targets):
            masks = downsample_masks(target["masks"], (seg_h, seg_w))  # (M, hs, ws)
            for mask, label in zip(masks, target["labels"].tolist(), strict=True):
                seg_target[i, label - 1] = torch.maximum(seg_target[i, label - 1], mask)
        bce = binary_cross_entropy_with_logits(semantic_logits, seg_target, reduction="sum")
        losses["loss_semantic"] = semantic_weight * bce / (seg_h * seg_w) / max(n, 1)
    return losses
