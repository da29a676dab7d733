r"""Box regression losses: smooth L1, IoU, generalised IoU, and Lp + IoU.

All IoU-based losses here compare **paired** boxes: ``boxes1[i]`` with ``boxes2[i]``, both
``xyxy`` of shape ``(..., 4)`` (usually ``(N, 4)``), giving one loss per pair. With
:math:`I` the intersection area, :math:`U = |A| + |B| - I` the union and :math:`C` the area of
the smallest box enclosing both,

.. math::
    \mathrm{IoU} = \frac{I}{U + \varepsilon}, \qquad
    \mathcal{L}_{\mathrm{IoU}} = 1 - \mathrm{IoU}, \qquad
    \mathcal{L}_{\mathrm{GIoU}} = 1 - \mathrm{IoU} + \frac{C - U}{C + \varepsilon}.

The small :math:`\varepsilon` (``eps``) keeps degenerate boxes from dividing by zero; it is the
same as in torchvision's box losses, so the values match theirs exactly.

**The teaching point.** When two boxes do not overlap, :math:`I = 0` whatever their
positions, so the IoU loss is flat (1) and its gradient is **zero**: a prediction far from its
target gets no signal to move. GIoU adds the share of the enclosing box left empty,
:math:`(C - U)/C`, which shrinks as the boxes approach, so its gradient is not zero there.

``reduction`` is ``"none"`` (per pair), ``"mean"`` or ``"sum"``; as in torchvision, the mean of
no pairs is 0 for the IoU losses. Integer (and float16) boxes are computed in float32, as in
torchvision.
"""

from __future__ import annotations

import torch

__all__ = [
    "smooth_l1_loss",
    "iou_loss",
    "generalized_box_iou_loss",
    "lp_iou_loss",
]

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a per-pair loss; the mean of an empty loss is 0 (not NaN), as torchvision's."""
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_pairs(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both boxes ``(..., 4)`` of the same shape; returned as float32/float64."""
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if not isinstance(b, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(b).__name__}")
        if b.dtype == torch.bool or b.is_complex():
            raise TypeError(f"{name} must hold real numbers, got {b.dtype}")
        if b.ndim < 1 or b.shape[-1] != 4:
            raise ValueError(f"{name} must have shape (..., 4), got {tuple(b.shape)}")
    if boxes1.shape != boxes2.shape:
        raise ValueError(
            "boxes1 and boxes2 must hold paired boxes of the same shape, "
            f"got {tuple(boxes1.shape)} "
            f"and {tuple(boxes2.shape)} (for all pairs, use segedu.ops.box_iou)"
        )

    def widen(b: torch.Tensor) -> torch.Tensor:
        return b if b.dtype in (torch.float32, torch.float64) else b.float()

    return widen(boxes1), widen(boxes2)


def _paired_intersection_union(
    boxes1: torch.Tensor, boxes2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(I, U)`` of paired boxes ``(..., 4)``: two ``(...)`` tensors."""
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    # overlap rectangle; it exists only if both its sides are positive
    w = torch.min(x2, x2g) - torch.max(x1, x1g)
    h = torch.min(y2, y2g) - torch.max(y1, y1g)
    overlap = (w > 0) & (h > 0)
    inter = torch.where(overlap, w * h, torch.zeros_like(w))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def smooth_l1_loss(
    input: torch.Tensor, target: torch.Tensor, beta: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    r"""Smooth L1 (Huber-like) loss of Fast R-CNN, elementwise then reduced:

    .. math:: \ell(d) = \begin{cases} \tfrac12 d^2 / \beta & |d| < \beta \\
                                      |d| - \tfrac12 \beta & \text{otherwise} \end{cases},
              \qquad d = \text{input} - \text{target}.

    Quadratic (gentle gradients) near 0, linear (robust to outliers) beyond ``beta``; the two
    pieces meet with the same value and slope at :math:`|d| = \beta`. ``beta = 0`` gives the
    L1 loss. Equals :func:`torch.nn.functional.smooth_l1_loss` (values and gradients).

    Args:
        input, target: float tensors of the same shape, e.g. box deltas ``(N, 4)``.
        beta: where the quadratic part ends, ``>= 0``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (the mean of an empty tensor is NaN,
            as in PyTorch).
    """
    for name, t in (("input", input), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if input.shape != target.shape:
        raise ValueError(
            "input and target must have the same shape, "
            f"got {tuple(input.shape)} and {tuple(target.shape)}"
        )
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    _check_reduction(reduction)
    diff = (input - target).abs()
    if beta == 0:
        loss = diff  # the quadratic piece has vanished: plain L1
    else:
        loss = torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)
    if reduction == "mean":
        return loss.mean()
    return _reduce(loss, reduction)


def iou_loss(
    boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7
) -> torch.Tensor:
    r"""IoU loss of paired ``xyxy`` boxes ``(..., 4)``: :math:`1 - I / (U + \varepsilon)`,
    shape ``(...)``.

    With ``eps=0`` it is ``1 - box_iou(boxes1, boxes2).diagonal()``; with the default ``eps`` it
    is ``1 -`` the IoU that torchvision's ``distance_box_iou_loss`` and
    ``generalized_box_iou_loss`` use. Its gradient is zero for disjoint boxes (module docstring).
    """
    _check_reduction(reduction)
    boxes1, boxes2 = _check_pairs(boxes1, boxes2)
    inter, union = _paired_intersection_union(boxes1, boxes2)
    return _reduce(1 - inter / (union + eps), reduction)


def generalized_box_iou_loss(
    boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7
) -> torch.Tensor:
    r"""GIoU loss of paired ``xyxy`` boxes ``(..., 4)`` -> ``(...)`` (or reduced):

    .. math:: \mathcal{L}_{\mathrm{GIoU}} = 1 - \frac{I}{U + \varepsilon}
              + \frac{C - U}{C + \varepsilon} \in [0, 2),

    :math:`C` the area of the smallest enclosing box. Equals
    :func:`torchvision.ops.generalized_box_iou_loss`, values and gradients.
    """
    _check_reduction(reduction)
    boxes1, boxes2 = _check_pairs(boxes1, boxes2)
    inter, union = _paired_intersection_union(boxes1, boxes2)
    iou = inter / (union + eps)
    # smallest box enclosing both
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    enclosing = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (
        torch.max(y2, y2g) - torch.min(y1, y1g)
    )
    giou = iou - (enclosing - union) / (enclosing + eps)
    return _reduce(1 - giou, reduction)


def lp_iou_loss(
    boxes1: torch.Tensor,
    boxes2: torch.Tensor,
    *,
    p: float = 1,
    reduction: str = "none",
    eps: float = 1e-7,
) -> torch.Tensor:
    r"""The course's combined loss: a coordinate term plus the IoU loss, per pair of boxes.

    .. math:: \mathcal{L} = \underbrace{\frac14 \sum_{k=1}^{4} |b_{1,k} - b_{2,k}|^p}_{L_p}
              + \big(1 - \mathrm{IoU}(b_1, b_2)\big)

    :math:`L_p` is the **mean** (not the sum) over the four ``xyxy`` coordinates, in pixels,
    so it is on the scale of one coordinate's error. The :math:`L_p` term gives a gradient even
    when the boxes are disjoint; the IoU term is scale-invariant. ``p = 1``: mean absolute error;
    ``p = 2``: mean squared error. The IoU is :func:`iou_loss`'s (with ``eps``).

    Args:
        boxes1, boxes2: paired ``xyxy`` boxes ``(..., 4)`` of the same shape.
        p: exponent, ``> 0``.
        reduction: ``"none"`` -> ``(...)``, ``"mean"``, ``"sum"``.
    """
    _check_reduction(reduction)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"p must be a positive number, got {p!r}")
    boxes1, boxes2 = _check_pairs(boxes1, boxes2)
    lp = ((boxes1 - boxes2).abs() ** p).mean(dim=-1)
    return _reduce(lp + iou_loss(boxes1, boxes2, eps=eps), reduction)
