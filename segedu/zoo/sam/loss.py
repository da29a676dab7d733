"""The loss of the zoo's SAM: focal + Dice (20:1) on the trained mask, MSE on the IoU head."""

from __future__ import annotations

import math

import torch

from ...losses import dice_loss as soft_dice_loss
from ...losses import sigmoid_focal_loss

__all__ = ["focal_loss", "dice_loss", "mask_iou", "mask_loss", "FOCAL_WEIGHT", "DICE_WEIGHT"]

FOCAL_WEIGHT, DICE_WEIGHT = 20.0, 1.0  # the paper's 20:1


def focal_loss(logits: torch.Tensor, truth: torch.Tensor, *, alpha: float = 0.25,
               gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017) per mask: ``(..., H, W)`` logits and 0/1 truth ->
    ``(...)``, the mean over pixels of :func:`segedu.losses.sigmoid_focal_loss` (torchvision's)."""
    return sigmoid_focal_loss(logits, truth.float(), alpha=alpha, gamma=gamma).mean(dim=(-2, -1))


def dice_loss(logits: torch.Tensor, truth: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per mask: ``(..., H, W)`` -> ``(...)``,
    ``1 - (2 sum(p t) + s) / (sum p + sum t + s)`` with ``p = sigmoid(logits)``: the per-mask mode
    of :func:`segedu.losses.dice_loss` (the smoothing 1 is a choice: SAM's training code is not
    public)."""
    masks = logits.reshape(-1, *logits.shape[-2:])  # (M, H, W), M masks
    per_mask = soft_dice_loss(masks, truth.reshape(masks.shape), mode="per_mask", smooth=smooth,
                              reduction="none")
    return per_mask.reshape(logits.shape[:-2])


def mask_iou(masks: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """IoU ``(...)`` of bool masks ``(..., H, W)`` with ``truth`` (broadcast); 1 when both are
    empty."""
    inter = (masks & truth).sum(dim=(-2, -1)).float()
    union = (masks | truth).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def mask_loss(logits: torch.Tensor, iou_pred: torch.Tensor, truth: torch.Tensor,
              multimask: torch.Tensor) -> dict[str, torch.Tensor]:
    """SAM's loss for ``P`` prompts of one image.

    Args:
        logits: ``(P, 4, H, W)`` mask logits at the image's size (all four decoder masks: the
            single mask 0, the multimask outputs 1..3).
        iou_pred: ``(P, 4)`` predicted IoUs.
        truth: ``(P, H, W)`` bool target of each prompt.
        multimask: ``(P,)`` bool: this prompt is a lone point (masks 1..3, the lowest loss one is
            trained) rather than a box or several points (mask 0).

    Returns ``mask`` (mean over prompts of ``20 focal + dice`` of the trained mask), ``focal``,
    ``dice`` (of the same masks), ``iou`` (MSE of the predicted against the true IoU of every mask
    of each prompt's output, 3 or 1) and ``best`` ``(P,)`` (index 0..3 of the trained mask).
    """
    truth_ = truth[:, None].expand_as(logits)
    focal, dice = focal_loss(logits, truth_), dice_loss(logits, truth_)  # (P, 4)
    per_mask = FOCAL_WEIGHT * focal + DICE_WEIGHT * dice
    # which outputs each prompt uses: 1..3 for a lone point, 0 otherwise
    used = torch.zeros_like(per_mask, dtype=torch.bool)
    used[:, 1:] = multimask[:, None]
    used[:, 0] = ~multimask
    best = per_mask.detach().masked_fill(~used, math.inf).argmin(dim=1)  # (P,)

    def take(x: torch.Tensor) -> torch.Tensor:  # (P, 4) -> (P,): the trained mask's value
        return x.gather(1, best[:, None])[:, 0]

    # IoU head: regress the true IoU of each used mask (no gradient through the target)
    true_iou = mask_iou(logits.detach() > 0, truth[:, None])
    iou = ((iou_pred - true_iou) ** 2)[used].mean()
    return {"mask": take(per_mask).mean(), "focal": take(focal).mean(), "dice": take(dice).mean(),
            "iou": iou, "best": best}
