r"""SSD's training loss (Liu et al., ECCV 2016, section 2.2 "Training objective" and "Hard
negative mining"): softmax cross-entropy on the positives and the hardest negatives, smooth L1
on the positives' boxes, both divided by the number of positives.

Of the 8,732 default boxes of an image only a handful match an object. Taking every negative
would drown the positives; SSD keeps, per image, only the **hardest negatives**: the background
boxes sorted by their own classification loss, the top ``3 x (number of positives)`` (a
negative : positive ratio of at most 3 : 1, torchvision's ``positive_fraction = 0.25``). The
easy negatives are dropped from the loss altogether (RetinaNet's focal loss instead keeps all
of them and turns their weight down).

With the default boxes matched (:mod:`.matching`) and ``P`` positives in the batch:

.. math:: L = \frac{1}{P}\Big(\sum_{\text{pos} \,\cup\, \text{hard neg}} \mathrm{CE}
          + \sum_{\text{pos}} \text{smooth-}L_1(\hat t - t)\Big),

``t`` the matched box encoded against its default box with weights ``(10, 10, 5, 5)`` (the
paper's variances 0.1 and 0.2). ``P`` is counted over the whole batch (``max(1, P)``). An image
without objects has no positives and so no negatives either: it adds nothing to the loss.
Equals torchvision's ``SSD.compute_loss``.
"""

from __future__ import annotations

import torch

from .....losses import cross_entropy, smooth_l1_loss
from .....ops import encode_boxes

__all__ = ["ssd_loss", "hard_negatives", "SSD_BOX_WEIGHTS"]

SSD_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def hard_negatives(cls_loss: torch.Tensor, foreground: torch.Tensor,
                   neg_to_pos_ratio: float) -> torch.Tensor:
    """Hard-negative mining: ``cls_loss (N, R)`` per default box and ``foreground (N, R)`` ->
    bool ``(N, R)``, per image the ``neg_to_pos_ratio x positives`` background boxes of
    highest loss."""
    num_negative = neg_to_pos_ratio * foreground.sum(1, keepdim=True)  # (N, 1)
    negative_loss = cls_loss.clone()
    negative_loss[foreground] = -float("inf")  # positives sort last
    order = negative_loss.sort(1, descending=True).indices  # (N, R) box of each rank
    rank = order.sort(1).indices  # (N, R) rank of each box
    return rank < num_negative


def ssd_loss(outputs: dict, targets: list[dict[str, torch.Tensor]], matched: list[torch.Tensor],
             *, neg_to_pos_ratio: float = 3.0) -> dict[str, torch.Tensor]:
    """The batch's losses ``{"bbox_regression", "classification"}``.

    Args:
        outputs: ``cls_logits (N, R, K)``, ``bbox_regression (N, R, 4)``, ``anchors`` (one
            ``(R, 4)`` per image).
        targets: one dict per image, ``boxes (G, 4)`` and ``labels (G,)`` at the batch's scale.
        matched: each image's default-box matches ``(R,)`` (``-1``: background).
        neg_to_pos_ratio: negatives kept per positive (3).
    """
    cls_logits = outputs["cls_logits"]
    num_foreground = 0
    box_losses, class_targets = [], []
    for deltas, anchors, target, match in zip(outputs["bbox_regression"], outputs["anchors"],
                                              targets, matched, strict=True):
        foreground = torch.where(match >= 0)[0]
        matched_gt = match[foreground]
        num_foreground += matched_gt.numel()
        # smooth L1 between predicted and target deltas of the positives
        target_deltas = encode_boxes(target["boxes"][matched_gt], anchors[foreground],
                                     SSD_BOX_WEIGHTS)
        box_losses.append(smooth_l1_loss(deltas[foreground], target_deltas, reduction="sum"))
        # each default box's class: its box's label, or 0 (background)
        labels = torch.zeros(len(match), dtype=target["labels"].dtype,
                             device=target["labels"].device)
        labels[foreground] = target["labels"][matched_gt]
        class_targets.append(labels)
    class_targets = torch.stack(class_targets)  # (N, R)
    num_classes = cls_logits.shape[-1]
    # the cross-entropy of every default box, then the positives and the hard negatives
    cls_loss = cross_entropy(cls_logits.reshape(-1, num_classes), class_targets.view(-1),
                             reduction="none").view(class_targets.shape)  # (N, R)
    foreground = class_targets > 0
    negatives = hard_negatives(cls_loss, foreground, neg_to_pos_ratio)
    normaliser = max(1, num_foreground)
    return {"bbox_regression": torch.stack(box_losses).sum() / normaliser,
            "classification": (cls_loss[foreground].sum() + cls_loss[negatives].sum())
            / normaliser}
