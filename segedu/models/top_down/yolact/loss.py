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
The loss itself is :meth:`Yolact.loss <segedu.models.top_down.yolact.model.Yolact.loss>` (the
family's method); this module holds its constants and the mask downsampling it shares with the
semantic term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["BOX_CODER_WEIGHTS", "LOSS_OPTIONS", "downsample_masks"]

BOX_CODER_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # SSD's variances 0.1 (centre) and 0.2 (size)

# the loss's options and their defaults (the paper's): override them with Yolact's loss_weights
LOSS_OPTIONS = {
    "positive_threshold": 0.5,  # IoU from which an anchor learns a box (:mod:`.matching`)
    "negative_threshold": 0.4,  # IoU below which it is background
    "negatives_per_positive": 3,  # OHEM
    "max_masks_per_image": 100,  # positives per image in the mask loss (a random choice)
    "class_weight": 1.0,
    "box_weight": 1.5,
    "mask_weight": 6.125,
    "semantic_weight": 1.0,
}


def downsample_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Binary ``(M, H, W)`` masks -> ``(M, h, w)`` float 0/1: a coarse pixel is foreground when at
    least half of the fine pixels it covers are (area averaging, then ``>= 0.5``)."""
    if masks.numel() == 0:
        return masks.new_zeros((masks.shape[0], *size), dtype=torch.float32)
    # (M, h, w) fractions
    area = F.interpolate(masks[:, None].float(), size=size, mode="area")[:, 0]
    return (area >= 0.5).float()
