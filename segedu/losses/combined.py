r"""Cross-entropy + Dice: the usual compound loss of medical segmentation (nnU-Net).

.. math:: \mathcal{L} = \lambda_{CE}\, \mathcal{L}_{CE} + \lambda_{Dice}\, \mathcal{L}_{Dice}

The cross-entropy gives every pixel a smooth, well-scaled gradient from the first step; the
Dice term measures overlap per class, so a small structure counts as much as the background.
Both are means (over pixels and over classes), so the weights :math:`\lambda` compare like with
like.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .cross_entropy import cross_entropy
from .dice import dice_loss

__all__ = ["ce_dice_loss"]


def ce_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ce_weight: float = 1.0,
    dice_weight: float = 1.0,
    ignore_index: int | None = None,
    class_weight: torch.Tensor | None = None,
    smooth: float = 1.0,
    per_image: bool = False,
    classes: Sequence[int] | None = None,
) -> torch.Tensor:
    """``ce_weight * cross_entropy + dice_weight * dice_loss`` (both ``"mean"``), a scalar.

    Args:
        logits: class scores ``(N, C, ...)``, floats.
        target: class labels ``(N, ...)``, integers in ``[0, C)`` or ``ignore_index``.
        ce_weight: factor of the cross-entropy term.
        dice_weight: factor of the Dice term.
        ignore_index: label of the pixels left out of both terms (``None``: none).
        class_weight: optional ``(C,)`` class weights of the cross-entropy term.
        smooth, per_image, classes: options of the Dice term, see
            :func:`segedu.losses.dice_loss` (multiclass mode, softmax).
    """
    # cross_entropy's "no ignore" is an index that never occurs, -100 by PyTorch's convention
    ce = cross_entropy(
        logits,
        target,
        weight=class_weight,
        ignore_index=-100 if ignore_index is None else ignore_index,
    )
    dice = dice_loss(
        logits,
        target,
        mode="multiclass",
        smooth=smooth,
        per_image=per_image,
        ignore_index=ignore_index,
        classes=classes,
    )
    return ce_weight * ce + dice_weight * dice
