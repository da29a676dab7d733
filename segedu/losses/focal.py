r"""Focal loss (Lin et al. 2017): cross-entropy that down-weights the easy pixels.

Most pixels of a segmentation (or most anchors of a detector) are easy: the network already
gives their true class a probability :math:`p_t` near 1. Each adds a little cross-entropy
:math:`-\log p_t`, and together they drown the few hard ones. The focal loss multiplies by
:math:`(1 - p_t)^\gamma`, which is about 0 for easy pixels and about 1 for hard ones:

.. math:: \mathcal{L} = -\alpha_t\,(1 - p_t)^{\gamma}\,\log p_t .

With :math:`\gamma = 0` and :math:`\alpha_t = 1` it is the cross-entropy.

**Softmax form** (:func:`focal_loss`): :math:`p_t` is the softmax probability of the true class.
``alpha`` is ``None`` (:math:`\alpha_t = 1`), a float (the same factor for every pixel: a
plain rescaling) or a per-class tensor ``(C,)`` (:math:`\alpha_t = \alpha_{y}`). ``"mean"`` is
the plain mean over the pixels that are not ignored (NaN if all are): with a per-class
``alpha`` this is *not* the weighted mean of ``cross_entropy(weight=alpha)``; the ``"sum"``s
agree at :math:`\gamma = 0`.

**Sigmoid form** (:func:`sigmoid_focal_loss`, torchvision's name, signature and semantics):
every element is its own binary problem with :math:`p = \sigma(x)`,
:math:`p_t = p` if the target is 1 and :math:`1 - p` otherwise, and
:math:`\alpha_t = \alpha` for positives, :math:`1 - \alpha` for negatives (``alpha < 0``
switches the factor off). RetinaNet uses this form.

**segmentation-models-pytorch.** ``FocalLoss(mode="multiclass")`` is *not* the softmax form:
it applies the sigmoid focal loss to each class channel one-versus-rest (target 1 for the
true class, 0 for the others), takes the mean over pixels per class, then the mean over
classes. The probabilities of the classes then do not sum to 1 and the value differs from the
softmax form; the tests check smp against that one-versus-rest formula instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import _check_float, _check_logits_target, _check_reduction, _check_same_shape
from ._checks import _reduce as _reduce_loss

__all__ = ["focal_loss", "sigmoid_focal_loss"]


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float | torch.Tensor | None = None,
    gamma: float = 2.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Softmax focal loss :math:`-\alpha_t (1 - p_t)^\gamma \log p_t` per pixel.

    Args:
        logits: class scores ``(N, C, ...)``, floats.
        target: class labels ``(N, ...)``, integers in ``[0, C)`` or ``ignore_index``.
        alpha: ``None``, a float, or a float tensor ``(C,)`` of per-class factors.
        gamma: focusing exponent :math:`\gamma \ge 0` (0 gives the cross-entropy).
        ignore_index: target value of the pixels that do not count (loss 0).
        reduction: ``"none"`` (``(N, ...)``, 0 on ignored pixels), ``"mean"`` (over the
            counted pixels) or ``"sum"``.
    """
    _check_logits_target(logits, target, ignore_index)
    _check_reduction(reduction)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
        raise ValueError(f"gamma must be a number >= 0, got {gamma!r}")
    num_classes = logits.shape[1]

    # 1. log p_t: the log-softmax of the true class (ignored pixels use class 0, masked later)
    valid = target != ignore_index
    labels = torch.where(valid, target, torch.zeros_like(target)).long()
    log_p = F.log_softmax(logits, dim=1)
    log_pt = log_p.gather(1, labels.unsqueeze(1)).squeeze(1)  # (N, ...)
    pt = log_pt.exp()

    # 2. the focal factor (1 - p_t)^gamma times the cross-entropy -log p_t
    loss = -((1.0 - pt) ** gamma) * log_pt

    # 3. the class factor alpha_t
    if isinstance(alpha, torch.Tensor):
        _check_float("alpha", alpha)
        if alpha.shape != (num_classes,):
            raise ValueError(f"alpha must have shape (C,) = ({num_classes},), got {alpha.shape}")
        loss = alpha.to(loss.dtype)[labels] * loss
    elif alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise TypeError(f"alpha must be None, a float or a (C,) tensor, got {alpha!r}")
        loss = alpha * loss

    # 4. ignored pixels contribute nothing; "mean" divides by the number of counted pixels
    loss = loss * valid
    if reduction == "mean":
        return loss.sum() / valid.sum()
    return _reduce_loss(loss, reduction)


def sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> torch.Tensor:
    r"""Sigmoid (binary) focal loss; equals ``torchvision.ops.sigmoid_focal_loss``.

    .. math::
        \mathcal{L} = \alpha_t (1 - p_t)^\gamma \cdot \mathrm{BCE}(x, t), \quad
        p_t = p\,t + (1 - p)(1 - t), \quad \alpha_t = \alpha\,t + (1 - \alpha)(1 - t)

    with :math:`p = \sigma(x)` and the binary cross-entropy computed from the logit.

    Args:
        inputs: logits of any shape, floats.
        targets: same shape, floats (0 for the negative class, 1 for the positive).
        alpha: weight of the positives in ``[0, 1]``; negatives get ``1 - alpha``.
            A negative ``alpha`` switches the factor off (as torchvision).
        gamma: focusing exponent.
        reduction: ``"none"`` (default, as torchvision), ``"mean"`` or ``"sum"``.
    """
    _check_float("inputs", inputs)
    _check_float("targets", targets)
    _check_same_shape("inputs", inputs, "targets", targets)
    _check_reduction(reduction)

    # 1. the binary cross-entropy of each element, stable for any logit
    p = torch.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")

    # 2. p_t, the probability given to the true label, and the focal factor
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)

    # 3. alpha_t balances positives and negatives (off for alpha < 0)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _reduce_loss(loss, reduction)
