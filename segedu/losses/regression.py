r"""Regression losses: L1 (absolute error) and mean squared error (squared L2).

For a prediction :math:`x` and a target :math:`y` of the same shape, element by element:

.. math:: \ell_1 = |x - y|, \qquad \ell_2 = (x - y)^2 .

Summed over the elements these are the :math:`L^1` norm and the squared :math:`L^2` norm of
:math:`x - y`. MSE punishes large errors much more than small ones (so outliers dominate it);
L1 grows linearly, is more robust, and its gradient has the same size for every error (the
sign), which is why box regression uses smooth L1, a blend of the two (see ``box.py``).
In segmentation they regress distance maps, flows (Cellpose) and offsets (Panoptic-DeepLab).

Unlike PyTorch, which broadcasts (with a warning) when the shapes differ, these functions
refuse different shapes: broadcasting ``(N, 1)`` against ``(N,)`` silently gives an
``(N, N)`` loss.
"""

from __future__ import annotations

import torch

from ._checks import _check_float, _check_reduction, _check_same_shape, _reduce

__all__ = ["l1_loss", "mse_loss"]


def _check_pair(input: torch.Tensor, target: torch.Tensor, reduction: str) -> None:
    _check_float("input", input)
    _check_float("target", target)
    _check_same_shape("input", input, "target", target)
    _check_reduction(reduction)


def l1_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Absolute error ``|input - target|``, any shape; equals ``F.l1_loss``.

    ``reduction``: ``"none"`` (same shape as ``input``), ``"mean"`` over all elements, ``"sum"``.
    """
    _check_pair(input, target, reduction)
    return _reduce((input - target).abs(), reduction)


def mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error ``(input - target)**2``, any shape; equals ``F.mse_loss``.

    ``reduction``: ``"none"`` (same shape as ``input``), ``"mean"`` over all elements, ``"sum"``.
    """
    _check_pair(input, target, reduction)
    return _reduce((input - target) ** 2, reduction)
