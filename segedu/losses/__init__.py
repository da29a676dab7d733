"""Pixel, region and box losses.

Pixel losses compare each pixel's prediction with its label (cross-entropy, focal, L1/MSE);
region losses compare whole masks (Dice, Jaccard, Tversky, Lovász); box losses compare boxes
(smooth L1, IoU, GIoU). All follow PyTorch's conventions: ``logits (N, C, ...)``, integer
``target (N, ...)``, ``weight``, ``ignore_index``, ``reduction`` in ``"none" | "mean" | "sum"``.
The region losses also take ``mode="per_mask"``: ``N`` independent binary masks ``(N, ...)`` with
targets of the same shape in ``[0, 1]``, one loss per mask (Mask2Former's and SAM's mask losses).
"""

from .box import generalized_box_iou_loss, iou_loss, lp_iou_loss, smooth_l1_loss
from .class_weights import class_pixel_counts, inverse_frequency_weights, median_frequency_weights
from .combined import ce_dice_loss
from .cross_entropy import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy
from .dice import dice_loss, soft_counts
from .focal import focal_loss, sigmoid_focal_loss
from .jaccard import jaccard_loss
from .lovasz import lovasz_grad, lovasz_hinge, lovasz_softmax
from .regression import l1_loss, mse_loss
from .tversky import tversky_loss
from .unet_weight_map import unet_weight_map, weighted_cross_entropy

__all__ = [
    # pixel losses
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "focal_loss",
    "sigmoid_focal_loss",
    "l1_loss",
    "mse_loss",
    # class and pixel weights
    "class_pixel_counts",
    "inverse_frequency_weights",
    "median_frequency_weights",
    "unet_weight_map",
    "weighted_cross_entropy",
    # region losses
    "soft_counts",
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "lovasz_grad",
    "lovasz_softmax",
    "lovasz_hinge",
    "ce_dice_loss",
    # box losses
    "smooth_l1_loss",
    "iou_loss",
    "generalized_box_iou_loss",
    "lp_iou_loss",
]
