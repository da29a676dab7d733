r"""Soft Dice loss: 1 minus the Dice coefficient computed on probabilities.

The Dice coefficient of a predicted mask :math:`P` and a true mask :math:`G` is
:math:`2|P \cap G| / (|P| + |G|)` (the F1 score of the pixels). Replacing the hard masks by a
probability :math:`p_i \in [0, 1]` per pixel and the one-hot truth :math:`g_i \in \{0, 1\}`
makes it differentiable ("soft"):

.. math::
    I = \sum_i p_i g_i, \qquad
    \text{dice} = \frac{2 I + s}{\sum_i p_i + \sum_i g_i + s}, \qquad
    \mathcal{L} = 1 - \text{dice}

with the course's smoothing :math:`s` = ``smooth`` = 1 by default. The sums run over the pixels
of one class; the loss is computed for each class and averaged over the classes, so a small
class counts as much as a large one (unlike the cross-entropy, which averages over pixels).

Options:

- ``mode="multiclass"``: ``logits (N, C, ...)``, softmax over ``C``, one-hot target ``(N, ...)``.
  ``mode="binary"``: one logit per pixel ``(N, ...)`` or ``(N, 1, ...)``, sigmoid, 0/1 target;
  the Dice of the foreground only.
  ``mode="per_mask"``: ``N`` independent binary masks ``(N, ...)``, sigmoid, and a target of the
  same shape, bool or in ``[0, 1]`` (soft targets, such as masks sampled at points); one Dice per
  mask, summed over its pixels only, as the mask losses of DETR, Mask2Former (Cheng et al.,
  CVPR 2022, which sums it over the matched masks and divides by their number:
  ``reduction="sum"``, then ``/ num_masks``) and SAM (Kirillov et al., ICCV 2023) use.
- ``per_image=False`` sums over the whole batch first (one Dice per class); ``True`` computes a
  Dice per image and class and averages those.
- ``ignore_index``: those pixels are removed from all three sums.
- ``classes``: the class indices to average over (multiclass only); default all.
- ``reduction``: ``"none"`` gives the per-class losses ``(C,)`` (``(N, C)`` with
  ``per_image=True``; ``C = 1`` in binary mode, or ``len(classes)``), or the per-mask losses
  ``(N,)`` in per-mask mode; ``"mean"`` and ``"sum"`` reduce them.
- ``from_logits=False``: ``logits`` are already probabilities.

**Empty masks.** With :math:`s = 1`, a class absent from both the target and the prediction
gets dice :math:`(0 + 1)/(0 + 0 + 1) = 1`, loss 0: nothing to find, nothing found. With
:math:`s = 0` that is :math:`0/0`; it is *defined* here as dice 1 (loss 0) whenever the
denominator is 0, i.e. both masks are empty. A class absent from the target but predicted
with total probability :math:`P` gets dice :math:`s / (P + s)`, which pushes :math:`P` to 0.

**segmentation-models-pytorch (smp 0.6).** ``DiceLoss(mode, smooth=a)`` differs in three ways:

1. Its Dice is written as a Tversky index with :math:`\alpha = \beta = 1/2`:
   :math:`(I + a) / (I + \tfrac12 FP + \tfrac12 FN + a) = (2I + 2a)/(\sum p + \sum g + 2a)`,
   so smp's ``smooth=a`` is this module's ``smooth=2a``. (Older smp, and the course, write
   :math:`(2I + s)/(\ldots + s)`.)
2. It sets the loss of every class absent from the batch target to 0 but still divides by all
   ``C`` classes; here such a class keeps its loss :math:`1 - s/(P + s)`.
3. It clamps the denominator at ``eps = 1e-7`` (invisible in its output: a denominator
   below ``eps`` needs an absent class, whose loss is zeroed anyway), offers ``log_loss``
   (:math:`-\log` dice), and has no per-image option (it always sums over the batch).

They coincide when ``per_image=False``, every averaged class is present in the target, and
smp's ``smooth`` is half of ours (for example both 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._checks import (
    _check_binary,
    _check_logits_target,
    _check_masks,
    _check_reduction,
    _check_region_options,
    _reduce,
)

__all__ = ["dice_loss", "soft_counts"]


def soft_counts(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: str = "multiclass",
    per_image: bool = False,
    ignore_index: int | None = None,
    from_logits: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The soft counts behind Dice, Jaccard and Tversky: :math:`(\sum p g, \sum p, \sum g)`.

    Each is ``(C,)`` (summed over batch and pixels) or, with ``per_image=True``, ``(N, C)``;
    ``C = 1`` in binary mode; ``(N,)`` in per-mask mode (``logits`` and ``target (N, ...)``, one
    sum per mask). Pixels equal to ``ignore_index`` are left out of all three.
    Soft true positives, false positives and false negatives follow:
    :math:`TP = \sum pg`, :math:`FP = \sum p - TP`, :math:`FN = \sum g - TP`.
    """
    _check_region_options(mode, 0.0, None, per_image=per_image, ignore_index=ignore_index)
    if mode == "per_mask":
        _check_masks(logits, target)
        # one row of pixels per mask: (N, ...) -> (N, P); the target may be soft (in [0, 1])
        n, pixels = logits.shape[0], math.prod(logits.shape[1:])
        probs = (torch.sigmoid(logits) if from_logits else logits).reshape(n, pixels)
        if not from_logits and probs.numel() and (probs.min() < 0 or probs.max() > 1):
            raise ValueError("with from_logits=False, the input must be probabilities in [0, 1]")
        truth = target.reshape(n, pixels).to(probs.dtype)
        return (probs * truth).sum(dim=1), probs.sum(dim=1), truth.sum(dim=1)
    if mode == "binary":
        logits, target = _check_binary(logits, target, ignore_index)
        # 1. probability of the foreground, one channel: (N, ...) -> (N, 1, P)
        probs = torch.sigmoid(logits) if from_logits else logits
        probs = probs.reshape(logits.shape[0], 1, -1)
        target = target.reshape(target.shape[0], 1, -1)
        valid = target != ignore_index if ignore_index is not None else torch.ones_like(target)
        truth = (target == 1).to(probs.dtype)  # g = 1 on the foreground
    else:
        _check_logits_target(logits, target, ignore_index)
        n, num_classes = logits.shape[:2]
        # 1. class probabilities, flattened: (N, C, ...) -> (N, C, P)
        probs = F.softmax(logits, dim=1) if from_logits else logits
        probs = probs.reshape(n, num_classes, -1)
        target = target.reshape(n, 1, -1)  # (N, 1, P)
        valid = target != ignore_index if ignore_index is not None else torch.ones_like(target)
        # 2. one-hot truth g (ignored pixels get a stand-in class 0, masked below): (N, C, P)
        labels = torch.where(valid.bool(), target, torch.zeros_like(target)).long()
        truth = F.one_hot(labels[:, 0], num_classes).movedim(-1, 1).to(probs.dtype)
    if not from_logits and probs.numel() and (probs.min() < 0 or probs.max() > 1):
        raise ValueError("with from_logits=False, the input must be probabilities in [0, 1]")

    # 3. remove ignored pixels from both the prediction and the truth
    valid = valid.to(probs.dtype)
    probs, truth = probs * valid, truth * valid

    # 4. sum over the pixels (and over the batch unless per_image)
    dims = (2,) if per_image else (0, 2)
    intersection = (probs * truth).sum(dim=dims)
    return intersection, probs.sum(dim=dims), truth.sum(dim=dims)


def ratio_or_one(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, defined as 1 where the denominator is 0 (both masks empty).

    The division uses a denominator of 1 in those places so that no NaN enters the gradient.
    """
    empty = denominator == 0
    safe = torch.where(empty, torch.ones_like(denominator), denominator)
    return torch.where(empty, torch.ones_like(numerator), numerator / safe)


def reduce_classes(
    loss: torch.Tensor, classes: Sequence[int] | None, reduction: str
) -> torch.Tensor:
    """Keep the chosen classes of a per-class loss ``(..., C)``, then reduce it."""
    if classes is not None:
        index = torch.as_tensor(list(classes), dtype=torch.long, device=loss.device)
        if index.numel() == 0:
            raise ValueError("classes must not be empty")
        if index.min() < 0 or index.max() >= loss.shape[-1]:
            raise ValueError(f"classes must lie in [0, {loss.shape[-1] - 1}], got {list(classes)}")
        loss = loss.index_select(-1, index)
    return _reduce(loss, reduction)


def dice_loss(
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
    r"""Soft Dice loss :math:`1 - (2I + s)/(\sum p + \sum g + s)`, averaged over classes.

    Args:
        logits: ``(N, C, ...)`` class scores (multiclass) or ``(N, ...)`` / ``(N, 1, ...)``
            foreground scores (binary), or ``(N, ...)`` scores of ``N`` masks (per-mask), floats;
            probabilities if ``from_logits=False``.
        target: ``(N, ...)`` integer labels (0/1 in binary mode), or ``ignore_index``; in
            per-mask mode the shape of ``logits``, bool or values in ``[0, 1]``.
        mode: ``"multiclass"`` (softmax), ``"binary"`` (sigmoid) or ``"per_mask"`` (sigmoid,
            one loss per mask).
        smooth: :math:`s \ge 0`, added to numerator and denominator.
        per_image: one Dice per image and class (``True``) or per class over the batch.
        ignore_index: label of the pixels to leave out.
        classes: class indices to keep (multiclass only).
        reduction: ``"none"`` (``(C,)``, ``(N, C)``, or ``(N,)`` per mask), ``"mean"`` or
            ``"sum"``.
        from_logits: apply softmax / sigmoid first.

    Returns:
        A scalar tensor in ``[0, 1]`` for ``"mean"``.
    """
    _check_region_options(mode, smooth, classes, per_image=per_image, ignore_index=ignore_index)
    _check_reduction(reduction)
    intersection, pred_sum, truth_sum = soft_counts(
        logits,
        target,
        mode=mode,
        per_image=per_image,
        ignore_index=ignore_index,
        from_logits=from_logits,
    )
    # dice = (2 I + s) / (sum p + sum g + s), 1 where both masks are empty and s = 0
    dice = ratio_or_one(2.0 * intersection + smooth, pred_sum + truth_sum + smooth)
    return reduce_classes(1.0 - dice, classes, reduction)
