r"""Soft Tversky loss: Dice and Jaccard with separate prices for false positives and negatives.

With soft counts :math:`TP = \sum_i p_i g_i`, :math:`FP = \sum_i p_i (1 - g_i)` and
:math:`FN = \sum_i (1 - p_i) g_i` (Salehi et al. 2017):

.. math::
    T = \frac{TP + s}{TP + \alpha\, FP + \beta\, FN + s}, \qquad \mathcal{L} = 1 - T .

:math:`\beta > \alpha` makes missed pixels cost more than false alarms, which raises recall on
small structures (lesions, thin vessels). Two special cases, exact identities:

- :math:`\alpha = \beta = 1`: the denominator is :math:`\sum p + \sum g - TP = U`, so
  ``tversky_loss(alpha=1, beta=1, smooth=s) == jaccard_loss(smooth=s)``;
- :math:`\alpha = \beta = \tfrac12`: :math:`T = (TP + s)/(\tfrac12(\sum p + \sum g) + s)
  = (2TP + 2s)/(\sum p + \sum g + 2s)`, so
  ``tversky_loss(alpha=0.5, beta=0.5, smooth=s) == dice_loss(smooth=2 * s)``
  (the same for ``s = 0``; the course's Dice adds ``s`` once, the Tversky form twice).

The options and the empty-mask rule (:math:`0/0` is :math:`T = 1`) are those of
:func:`segedu.losses.dice_loss`.

**segmentation-models-pytorch (smp 0.6).** ``TverskyLoss(mode, alpha, beta, smooth)`` uses the
same ratio, with its ``DiceLoss``'s differences (absent classes zeroed but counted in the mean,
``eps`` clamp, sums over the batch). Its ``gamma`` raises the *class-averaged* loss to a power
(a "focal Tversky" loss); ``gamma = 1`` (its default) is the plain loss computed here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import _check_reduction, _check_region_options
from .dice import ratio_or_one, reduce_classes, soft_counts

__all__ = ["tversky_loss"]


def tversky_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    mode: str = "multiclass",
    smooth: float = 1.0,
    per_image: bool = False,
    ignore_index: int | None = None,
    classes: Sequence[int] | None = None,
    reduction: str = "mean",
    from_logits: bool = True,
) -> torch.Tensor:
    r"""Soft Tversky loss :math:`1 - (TP + s)/(TP + \alpha FP + \beta FN + s)`.

    Args:
        logits: ``(N, C, ...)`` class scores (multiclass) or ``(N, ...)`` / ``(N, 1, ...)``
            foreground scores (binary), floats; probabilities if ``from_logits=False``.
        target: ``(N, ...)`` integer labels (0/1 in binary mode), or ``ignore_index``.
        alpha: weight of the false positives, >= 0.
        beta: weight of the false negatives, >= 0.
        mode, smooth, per_image, ignore_index, classes, reduction, from_logits: as in
            :func:`segedu.losses.dice_loss`.

    Returns:
        A scalar tensor for ``"mean"``; ``(C,)`` or ``(N, C)`` for ``"none"``.
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    _check_region_options(mode, smooth, classes)
    _check_reduction(reduction)
    tp, pred_sum, truth_sum = soft_counts(
        logits,
        target,
        mode=mode,
        per_image=per_image,
        ignore_index=ignore_index,
        from_logits=from_logits,
    )
    # soft false positives and false negatives
    fp = pred_sum - tp
    fn = truth_sum - tp
    # T = (TP + s) / (TP + alpha FP + beta FN + s), 1 where the denominator is 0
    index = ratio_or_one(tp + smooth, tp + alpha * fp + beta * fn + smooth)
    return reduce_classes(1.0 - index, classes, reduction)
