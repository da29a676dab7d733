r"""Soft Jaccard (IoU) loss: 1 minus the intersection over union computed on probabilities.

For hard masks, :math:`\mathrm{IoU} = |P \cap G| / |P \cup G|` and
:math:`|P \cup G| = |P| + |G| - |P \cap G|`. The soft version uses probabilities
:math:`p_i` and one-hot truth :math:`g_i`:

.. math::
    I = \sum_i p_i g_i, \qquad U = \sum_i p_i + \sum_i g_i - I, \qquad
    \mathcal{L} = 1 - \frac{I + s}{U + s}

with smoothing :math:`s` = ``smooth`` (1 by default). IoU and Dice are monotone functions of
each other for hard masks (:math:`\text{dice} = 2\,\mathrm{IoU} / (1 + \mathrm{IoU})`), but as
losses their gradients differ. The options (``mode``, ``per_image``, ``ignore_index``,
``classes``, ``reduction``, ``from_logits``) and the empty-mask rule (:math:`0/0` is IoU 1)
are those of :func:`segedu.losses.dice_loss`.

**segmentation-models-pytorch (smp 0.6).** ``JaccardLoss(mode, smooth=s)`` computes the same
ratio (with the same ``smooth``), but, as its ``DiceLoss``, sets the loss of classes absent
from the batch target to 0 while still dividing by ``C``, clamps the denominator at
``eps = 1e-7``, and always sums over the batch. The two agree for ``per_image=False`` when every
averaged class is present in the target.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import _check_reduction, _check_region_options
from .dice import ratio_or_one, reduce_classes, soft_counts

__all__ = ["jaccard_loss"]


def jaccard_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: str = "multiclass",
    smooth: float = 1.0,
    per_image: bool = False,
    ignore_index: int | None = None,
    classes: Sequence[int] | None = None,
    reduction: str = "mean",
    from_logits: bool = True,
) -> torch.Tensor:
    r"""Soft Jaccard loss :math:`1 - (I + s)/(U + s)`, averaged over classes.

    Args:
        logits: ``(N, C, ...)`` class scores (multiclass) or ``(N, ...)`` / ``(N, 1, ...)``
            foreground scores (binary), floats; probabilities if ``from_logits=False``.
        target: ``(N, ...)`` integer labels (0/1 in binary mode), or ``ignore_index``.
        mode, smooth, per_image, ignore_index, classes, reduction, from_logits: as in
            :func:`segedu.losses.dice_loss`.

    Returns:
        A scalar tensor in ``[0, 1]`` for ``"mean"``; ``(C,)`` or ``(N, C)`` for ``"none"``.
    """
    _check_region_options(mode, smooth, classes)
    _check_reduction(reduction)
    intersection, pred_sum, truth_sum = soft_counts(
        logits,
        target,
        mode=mode,
        per_image=per_image,
        ignore_index=ignore_index,
        from_logits=from_logits,
    )
    # U = sum p + sum g - I; IoU = (I + s) / (U + s), 1 where both masks are empty and s = 0
    union = pred_sum + truth_sum - intersection
    iou = ratio_or_one(intersection + smooth, union + smooth)
    return reduce_classes(1.0 - iou, classes, reduction)
