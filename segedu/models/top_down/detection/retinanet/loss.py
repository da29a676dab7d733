r"""RetinaNet's training loss (Lin et al., ICCV 2017, section 4): the focal loss over *all*
anchors, normalised by the number of foreground anchors, plus an L1 box loss on the foreground.

A one-stage detector scores ~100,000 anchors per image, of which a few dozen cover an object.
With the cross-entropy the easy negatives (background anchors already scored near 0) would sum
to most of the loss. The **sigmoid focal loss** :math:`-\alpha_t (1 - p_t)^\gamma \log p_t`
(:func:`segedu.losses.sigmoid_focal_loss`; :math:`\alpha = 0.25`, :math:`\gamma = 2`) scales each
anchor's term down by how easy it is, so every anchor can take part, without sampling
(the R-CNNs' 1:3 sampling, SSD's hard-negative mining).

Per image, with the anchors matched to the ground truth (IoU >= 0.5 foreground, < 0.4
background, in between ignored; each box also keeps its best anchors):

1. **classification**: a one-hot target ``(R, K)`` (1 at the matched box's label for a foreground
   anchor, all zeros for a background one), the focal loss summed over the non-ignored anchors
   and all classes, divided by ``max(1, number of foreground anchors)``: the paper's
   normalisation, since the easy negatives contribute next to nothing;
2. **box regression**: the L1 distance between the predicted deltas and the encoded deltas of
   the matched box (weights ``(1, 1, 1, 1)``), summed over the foreground anchors, divided by
   the same count. The paper used the smooth L1 loss; torchvision's RetinaNet uses L1 (its
   ``_loss_type = "l1"``), and so does this (``box_loss="smooth_l1"`` gives the paper's).

Both are averaged over the images. An image without objects has only background anchors: its
classification loss is the focal loss of all of them (divided by 1), its box loss 0. Equals
torchvision's ``RetinaNetHead.compute_loss``.
"""

from __future__ import annotations

import torch

from .....losses import l1_loss, sigmoid_focal_loss, smooth_l1_loss
from .....ops import encode_boxes

__all__ = ["retinanet_loss", "focal_classification_loss", "anchor_box_loss", "BOX_LOSSES"]

BOX_LOSSES = ("l1", "smooth_l1")
IGNORED = -2  # the Matcher's BETWEEN_THRESHOLDS


def focal_classification_loss(cls_logits: torch.Tensor, labels: torch.Tensor,
                              matched: torch.Tensor) -> torch.Tensor:
    """One image's focal loss: ``cls_logits (R, K)``, the ground-truth ``labels (G,)`` and each
    anchor's match ``(R,)`` -> a scalar, summed and divided by ``max(1, foreground anchors)``."""
    foreground = matched >= 0  # (R,)
    # one-hot targets: 1 at (foreground anchor, its box's label), 0 elsewhere
    target = torch.zeros_like(cls_logits)
    target[foreground, labels[matched[foreground]]] = 1.0
    valid = matched != IGNORED  # anchors between the two IoU thresholds do not count
    loss = sigmoid_focal_loss(cls_logits[valid], target[valid], reduction="sum")
    return loss / max(1, int(foreground.sum()))


def anchor_box_loss(bbox_regression: torch.Tensor, anchors: torch.Tensor, boxes: torch.Tensor,
                    matched: torch.Tensor, *, box_loss: str = "l1") -> torch.Tensor:
    """One image's box loss: deltas ``(R, 4)``, ``anchors (R, 4)``, ground-truth ``boxes (G, 4)``
    and the matches ``(R,)`` -> a scalar, summed over the foreground and divided by its count."""
    foreground = torch.where(matched >= 0)[0]
    # the deltas that would move each foreground anchor onto its box
    target = encode_boxes(boxes[matched[foreground]], anchors[foreground])
    predicted = bbox_regression[foreground]
    if box_loss == "l1":
        loss = l1_loss(predicted, target, reduction="sum")
    else:
        loss = smooth_l1_loss(predicted, target, beta=1.0, reduction="sum")
    return loss / max(1, foreground.numel())


def retinanet_loss(outputs: dict, targets: list[dict[str, torch.Tensor]],
                   matched: list[torch.Tensor], *, box_loss: str = "l1") -> dict[str, torch.Tensor]:
    """The batch's losses ``{"classification", "bbox_regression"}``, each the mean over images.

    Args:
        outputs: ``cls_logits (N, R, K)``, ``bbox_regression (N, R, 4)``, ``anchors`` (one
            ``(R, 4)`` per image).
        targets: one dict per image, ``boxes (G, 4)`` and ``labels (G,)`` at the batch's scale.
        matched: each image's anchor matches ``(R,)``.
        box_loss: ``"l1"`` (torchvision's) or ``"smooth_l1"`` (the paper's, beta 1).
    """
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
    classification, regression = [], []
    for logits, deltas, anchors, target, match in zip(
            outputs["cls_logits"], outputs["bbox_regression"], outputs["anchors"], targets,
            matched, strict=True):
        classification.append(focal_classification_loss(logits, target["labels"], match))
        regression.append(anchor_box_loss(deltas, anchors, target["boxes"], match,
                                          box_loss=box_loss))
    return {"classification": sum(classification[1:], classification[0]) / len(targets),
            "bbox_regression": sum(regression[1:], regression[0]) / max(1, len(targets))}
