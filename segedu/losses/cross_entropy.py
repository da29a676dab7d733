r"""Cross-entropy: the pixel-wise classification loss, multi-class and binary.

**Multi-class.** A network gives each pixel ``C`` scores (logits) :math:`z`; the softmax turns
them into probabilities :math:`p_c = e^{z_c} / \sum_k e^{z_k}`. With the true class written as
a one-hot vector :math:`y` (:math:`y_c = 1` for the true class, 0 elsewhere), the loss of a pixel
is

.. math:: \ell = -\sum_c y_c \log p_c = -\log p_{\text{true class}} .

``log_softmax`` computes :math:`\log p_c = z_c - \log\sum_k e^{z_k}` without forming tiny
probabilities first (``softmax(z).log()`` gives ``-inf`` as soon as a probability underflows).

**Class weights and ignored pixels** follow PyTorch exactly. Pixel :math:`i` with class
:math:`y_i` gets weight :math:`w_{y_i}`; pixels whose target is ``ignore_index`` get weight 0.

- ``"none"``: :math:`w_{y_i}\,\ell_i` per pixel (0 on ignored pixels);
- ``"sum"``: :math:`\sum_i w_{y_i}\,\ell_i`;
- ``"mean"``: the *weighted* mean :math:`\sum_i w_{y_i}\ell_i \,/\, \sum_i w_{y_i}` over the
  pixels that are not ignored. With all pixels ignored this is 0/0 = NaN, as in PyTorch.

A consequence worth knowing: multiplying all class weights by the same factor does not change
the ``"mean"`` loss at all.

**Binary.** One logit :math:`x` per pixel, :math:`p = \sigma(x)`, target :math:`t \in [0, 1]`:
:math:`\ell = -[\,t \log p + (1 - t)\log(1 - p)\,]`. ``binary_cross_entropy_with_logits`` uses
:math:`\log\sigma(x)` and :math:`\log(1 - \sigma(x)) = \log\sigma(x) - x`, which stay finite for
any :math:`x`; ``binary_cross_entropy`` takes probabilities and, as PyTorch does, clamps each
log at :math:`-100` so that :math:`p = 0` or :math:`p = 1` gives a finite loss (at most 100).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import (
    _check_float,
    _check_logits_target,
    _check_reduction,
    _check_same_shape,
    _check_weight,
    _reduce,
)

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits", "binary_cross_entropy"]


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    """Multi-class cross-entropy from the one-hot definition; equals ``F.cross_entropy``.

    Args:
        logits: class scores ``(N, C)`` or ``(N, C, d1, d2, ...)`` (e.g. ``(N, C, H, W)``), floats.
        target: class labels ``(N,)`` or ``(N, d1, d2, ...)``, integers in ``[0, C)`` or
            ``ignore_index``.
        weight: optional class weights ``(C,)``.
        ignore_index: target value of the pixels that do not count (weight 0).
        reduction: ``"none"`` (per pixel, shape of ``target``), ``"mean"`` (weighted mean) or
            ``"sum"``.

    Returns:
        The loss, a scalar tensor (or ``(N, ...)`` for ``"none"``).
    """
    _check_logits_target(logits, target, ignore_index)
    _check_weight("weight", weight, logits.shape[1])
    _check_reduction(reduction)
    num_classes = logits.shape[1]

    # 1. log-probabilities, computed stably: log p = z - logsumexp(z), shape (N, C, ...)
    log_p = F.log_softmax(logits, dim=1)

    # 2. which pixels count; ignored ones get a stand-in label 0 so that one_hot accepts them
    valid = target != ignore_index  # (N, ...)
    labels = torch.where(valid, target, torch.zeros_like(target)).long()

    # 3. one-hot targets y, moved to the class dimension: (N, ...) -> (N, ..., C) -> (N, C, ...)
    one_hot = F.one_hot(labels, num_classes).movedim(-1, 1).to(log_p.dtype)

    # 4. the per-pixel loss -sum_c y_c log p_c (only the true class's term is non-zero)
    loss = -(one_hot * log_p).sum(dim=1)  # (N, ...)

    # 5. per-pixel weights w_{y_i}; ignored pixels get weight 0 and (through where, not a
    #    product) exactly zero gradient, as in PyTorch
    w = torch.ones_like(loss) if weight is None else weight.to(log_p.dtype)[labels]
    pixel_weight = torch.where(valid, w, torch.zeros_like(w))
    loss = torch.where(valid, w * loss, torch.zeros_like(loss))

    # 6. reduce; "mean" is the weighted mean (NaN when every pixel is ignored, as PyTorch)
    if reduction == "mean":
        return loss.sum() / pixel_weight.sum()
    return _reduce(loss, reduction)


def _check_binary_pair(
    input_name: str, x: torch.Tensor, target: torch.Tensor, reduction: str
) -> None:
    _check_float(input_name, x)
    _check_float("target", target)
    _check_same_shape(input_name, x, "target", target)
    _check_reduction(reduction)


def binary_cross_entropy_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary cross-entropy on logits; equals ``F.binary_cross_entropy_with_logits``.

    .. math:: \ell = -w\,[\,q\,t\log\sigma(x) + (1 - t)\log(1 - \sigma(x))\,]

    with :math:`q` = ``pos_weight`` (weight of the positive term; > 1 raises recall). Using
    :math:`\log(1-\sigma(x)) = \log\sigma(x) - x` it becomes
    :math:`w\,[(1 - t)\,x - (1 + (q - 1)\,t)\log\sigma(x)]`.

    Args:
        logits: any shape, e.g. ``(N, 1, H, W)``, floats.
        target: same shape, floats in ``[0, 1]`` (soft labels allowed).
        weight: optional weight broadcast to the shape of ``logits``.
        pos_weight: optional weight of positives, broadcast along the last dimension
            (e.g. one per class for ``(N, C)`` multi-label logits).
        reduction: ``"none"``, ``"mean"`` (plain mean over all elements) or ``"sum"``.
    """
    _check_binary_pair("logits", logits, target, reduction)
    # 1. log sigma(x), finite for every x (log(1 - sigma(x)) = log sigma(x) - x)
    log_sig = F.logsigmoid(logits)
    # 2. the positive term is scaled by pos_weight
    log_weight = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * target
    # 3. -[q t log s + (1 - t)(log s - x)] = (1 - t) x - (1 + (q - 1) t) log s
    loss = (1.0 - target) * logits - log_weight * log_sig
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(
    probs: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary cross-entropy on probabilities; equals ``F.binary_cross_entropy``.

    .. math:: \ell = -w\,[\,t\,\max(\log p, -100) + (1 - t)\max(\log(1 - p), -100)\,]

    The clamp at -100 is PyTorch's: without it ``p = 0`` with ``t = 1`` gives an infinite loss.
    Prefer :func:`binary_cross_entropy_with_logits`, which needs no clamp.

    Gradients equal PyTorch's inside ``(0, 1)``. At exactly ``p = 0`` or ``p = 1`` they differ:
    here the clamped log is flat, so its gradient is 0, while PyTorch's hand-written backward
    :math:`(p - t) / \max(p(1-p), 10^{-12})` gives :math:`\pm 10^{12}`.

    Args:
        probs: any shape, floats in ``[0, 1]``.
        target: same shape, floats in ``[0, 1]``.
        weight: optional weight broadcast to the shape of ``probs``.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    """
    _check_binary_pair("probs", probs, target, reduction)
    if probs.numel() and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(
            f"probs must lie in [0, 1], got values in [{float(probs.min())}, {float(probs.max())}]"
            "; for logits use binary_cross_entropy_with_logits"
        )

    def clamped_log(x: torch.Tensor) -> torch.Tensor:
        # log x clamped at -100; log(0) is replaced before it is taken, so no 0 * inf = NaN
        # appears in the backward pass
        positive = x > 0
        safe = torch.where(positive, x, torch.ones_like(x))
        return torch.where(positive, torch.log(safe), torch.full_like(x, -100.0)).clamp_min(-100.0)

    # -[t log p + (1 - t) log(1 - p)], each log clamped at -100
    loss = -(target * clamped_log(probs) + (1.0 - target) * clamped_log(1.0 - probs))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
