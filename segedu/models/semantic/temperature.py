r"""Temperature scaling: one number that makes a trained network's confidences honest.

Guo, Pleiss, Sun and Weinberger ("On Calibration of Modern Neural Networks", ICML 2017) found that
modern networks are over-confident, and that dividing the logits :math:`z` by a single temperature
:math:`T > 0`, fitted after training on a held-out *validation* split, calibrates them best among
the simple methods:

.. math::

    \hat p = \mathrm{softmax}(z / T), \qquad
    T^\star = \arg\min_T \; -\frac{1}{n}\sum_i \log \mathrm{softmax}(z_i / T)_{y_i}

(the negative log-likelihood, NLL, of the validation labels). :math:`T > 1` softens
over-confident scores, :math:`T < 1` sharpens under-confident ones. The arg-max, hence every
prediction and the mIoU, does not change: only the confidences do.

:func:`fit_temperature` minimises the NLL over the inverse temperature :math:`\beta = 1 / T`, in
which it is convex (a log-sum-exp of :math:`\beta z` minus a linear term), by Newton's method
with its exact first and second derivatives: :math:`\frac{d}{d\beta}\mathrm{NLL} =
\overline{E_{\hat p}[z] - z_y}` and :math:`\frac{d^2}{d\beta^2}\mathrm{NLL} =
\overline{\mathrm{Var}_{\hat p}[z]} \ge 0` (means over the pixels). Guo et al.'s code fits
:math:`T` with L-BFGS; the test compares the two.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import SemanticOutput, SemanticSegmenter

__all__ = ["fit_temperature", "TemperatureScaled"]


def _flat_logits(logits: torch.Tensor, target: torch.Tensor,
                 ignore_index: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, C, *)`` logits and ``(N, *)`` labels -> ``(P, C)`` float64 and ``(P,)`` of the
    counted pixels."""
    if not logits.is_floating_point() or logits.ndim < 2:
        raise TypeError(f"logits must be a float (N, C, ...) tensor, got {logits.dtype} "
                        f"{tuple(logits.shape)}")
    if target.is_floating_point() or target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"target must be (N, ...) integer labels matching logits (N, C, ...): "
                         f"got {target.dtype} {tuple(target.shape)} for {tuple(logits.shape)}")
    flat = logits.movedim(1, -1).reshape(-1, logits.shape[1]).double()
    labels = target.reshape(-1)
    if ignore_index is not None:
        keep = labels != ignore_index
        flat, labels = flat[keep], labels[keep]
    if labels.numel() == 0:
        raise ValueError("no pixel left to fit the temperature on")
    if labels.min() < 0 or labels.max() >= flat.shape[1]:
        raise ValueError(f"target has labels outside [0, {flat.shape[1] - 1}]")
    return flat, labels


def fit_temperature(logits: torch.Tensor, target: torch.Tensor, *,
                    ignore_index: int | None = None, steps: int = 50,
                    tolerance: float = 1e-10) -> float:
    """The temperature :math:`T^\\star` that minimises the NLL of ``target`` under
    ``softmax(logits / T)`` (module docstring).

    Args:
        logits: ``(N, C, *)`` validation logits (never the test split's).
        target: ``(N, *)`` integer labels; ``ignore_index`` pixels are left out.
        steps: at most this many Newton steps; tolerance: stop when a step changes
            :math:`\\beta` by less.

    Returns ``T`` as a float. A network whose NLL keeps falling as :math:`T \\to 0` (every pixel
    predicted right) has no finite optimum: ``ValueError``.
    """
    z, y = _flat_logits(logits, target, ignore_index)
    z_true = z.gather(1, y[:, None])[:, 0]
    beta = 1.0
    for _ in range(steps):
        p = torch.softmax(beta * z, dim=1)
        mean_z = (p * z).sum(1)
        gradient = float((mean_z - z_true).mean())
        curvature = float(((p * z * z).sum(1) - mean_z**2).mean())
        if curvature <= 0:
            raise ValueError("the NLL is flat in the temperature: the logits carry no spread")
        step = gradient / curvature
        # Newton's step, kept from crossing zero (beta must stay positive)
        new_beta = beta - step if beta - step > 0 else beta / 2
        if abs(new_beta - beta) < tolerance:
            beta = new_beta
            break
        beta = new_beta
        if beta > 1e6:
            raise ValueError("the NLL keeps falling as T -> 0: every validation pixel is right "
                             "with a margin; there is nothing to calibrate on this split")
    return 1.0 / beta


class TemperatureScaled(SemanticSegmenter):
    """A semantic model whose logits are divided by a fitted ``temperature``: the same
    predictions, calibrated confidences. ``forward`` keeps the family's contract
    (``{"out": logits / T}``, and ``"aux"`` scaled too when the model gives one)."""

    def __init__(self, model: nn.Module, *, temperature: float) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.model = model
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        return {k: v / self.temperature for k, v in self.model(x).items()}
