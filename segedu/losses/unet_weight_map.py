r"""The U-Net weight map (Ronneberger et al. 2015, eq. 2) and a pixel-weighted cross-entropy.

To separate touching cells, U-Net weights the cross-entropy per pixel: the thin background
gaps between two cells are few pixels but decide whether the cells come out apart, so they get
a large weight:

.. math::
    w(x) = w_c(x) + w_0 \exp\!\left(-\frac{(d_1(x) + d_2(x))^2}{2\sigma^2}\right)

- :math:`w_c` balances the class frequencies (here foreground = any cell vs background);
- :math:`d_1(x)`, :math:`d_2(x)`: distance from :math:`x` to the border of the nearest and of
  the second-nearest cell (instance);
- :math:`w_0 = 10`, :math:`\sigma \approx 5` pixels in the paper.

The exponential term is added to **background pixels only**, as in the paper's Fig. 3d (inside
a cell the "nearest cell" is the cell itself and the term would just repeat a constant), and it
is 0 when the image has fewer than two cells (there is no second-nearest cell). For a
background pixel the nearest point of a cell lies on its border, so :math:`d_k` is the
Euclidean distance to the nearest pixel of that cell, which
``scipy.ndimage.distance_transform_edt`` computes for all pixels at once. Doing it once per
instance costs :math:`O(K\,H\,W)` for :math:`K` cells (fine for training data prepared once;
cache the maps for large images).

Class balance, ``class_weights``:

- ``"balanced"``: :math:`w_c = HW / (K\, n_c)` over the :math:`K` classes (1 or 2) present in
  the image, scikit-learn's ``compute_class_weight("balanced")``; the :math:`w_c` part then
  averages to 1 over the image;
- ``None``: :math:`w_c = 1`;
- a tensor ``(2,)``: ``[w_background, w_foreground]``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ._checks import _check_integer, _check_logits_target, _check_reduction, _reduce
from .cross_entropy import cross_entropy

__all__ = ["unet_weight_map", "weighted_cross_entropy"]


def _class_balance(
    foreground: np.ndarray, class_weights: str | torch.Tensor | None
) -> tuple[float, float]:
    """``(w_background, w_foreground)`` for a boolean foreground mask."""
    if class_weights is None:
        return 1.0, 1.0
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(
                f"class_weights must be 'balanced', None or a tensor, got {class_weights!r}"
            )
        n_fg = int(foreground.sum())
        n_bg = foreground.size - n_fg
        present = (n_bg > 0) + (n_fg > 0)  # K, the number of classes present
        # w_c = HW / (K n_c); an absent class gets 0 (no pixel uses it)
        w_bg = foreground.size / (present * n_bg) if n_bg else 0.0
        w_fg = foreground.size / (present * n_fg) if n_fg else 0.0
        return w_bg, w_fg
    if not isinstance(class_weights, torch.Tensor) or class_weights.shape != (2,):
        raise ValueError("class_weights tensor must have shape (2,): [background, foreground]")
    return float(class_weights[0]), float(class_weights[1])


def unet_weight_map(
    instances: torch.Tensor,
    *,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: str | torch.Tensor | None = "balanced",
) -> torch.Tensor:
    r"""U-Net's per-pixel loss weight :math:`w_c + w_0 e^{-(d_1 + d_2)^2 / 2\sigma^2}`.

    Args:
        instances: instance labels ``(H, W)``, integers; 0 is background, each other value
            one cell (values need not be consecutive).
        w0: weight of the border term, >= 0.
        sigma: width of the border term in pixels, > 0.
        class_weights: ``"balanced"``, ``None`` or a ``(2,)`` tensor, see the module doc.

    Returns:
        A float32 tensor ``(H, W)``.
    """
    _check_integer("instances", instances)
    if instances.ndim != 2:
        raise ValueError(
            f"instances must be a label image (H, W), got shape {tuple(instances.shape)}"
        )
    if w0 < 0:
        raise ValueError(f"w0 must be >= 0, got {w0}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    labels = instances.detach().cpu().numpy()
    if (labels < 0).any():
        raise ValueError("instance labels must be >= 0 (0 is background)")

    # 1. class balance: w_c(x) is w_background or w_foreground
    foreground = labels > 0
    w_bg, w_fg = _class_balance(foreground, class_weights)
    weight = np.where(foreground, w_fg, w_bg).astype(np.float64)

    # 2. distance from every pixel to each cell: edt gives the distance to the nearest zero,
    #    so feed it "not this cell" (zero exactly on the cell's pixels). Shape (K, H, W).
    ids = np.unique(labels[foreground])
    if len(ids) >= 2:
        distances = np.stack([ndimage.distance_transform_edt(labels != k) for k in ids])
        # 3. the nearest and second-nearest cells' distances, per pixel
        two_smallest = np.partition(distances, 1, axis=0)[:2]
        d1, d2 = two_smallest[0], two_smallest[1]
        # 4. the border term, on background pixels only
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma**2))
        weight = weight + np.where(foreground, 0.0, border)
    return torch.from_numpy(weight).float().to(instances.device)


def weighted_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    pixel_weight: torch.Tensor,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Cross-entropy with one weight per pixel (e.g. a U-Net weight map).

    .. math:: \mathcal{L} = \frac{\sum_i w_i \ell_i}{\sum_i w_i} \quad (\text{"mean"})

    over the pixels not equal to ``ignore_index``: a weighted mean, as PyTorch's
    ``cross_entropy`` with class weights, so that a weight map that is larger overall does not
    change the scale of the loss. ``"sum"`` is :math:`\sum_i w_i \ell_i` (the paper's energy),
    ``"none"`` is :math:`w_i \ell_i` per pixel.

    Args:
        logits: class scores ``(N, C, ...)``, floats.
        target: class labels ``(N, ...)``, integers in ``[0, C)`` or ``ignore_index``.
        pixel_weight: weights ``(N, ...)`` (same shape as ``target``), floats >= 0.
        ignore_index: label of the pixels that do not count.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    """
    _check_logits_target(logits, target, ignore_index)
    _check_reduction(reduction)
    if not isinstance(pixel_weight, torch.Tensor) or not pixel_weight.is_floating_point():
        raise TypeError("pixel_weight must be a floating-point tensor")
    if pixel_weight.shape != target.shape:
        raise ValueError(
            f"pixel_weight must have the shape of target {tuple(target.shape)}, "
            f"got {tuple(pixel_weight.shape)}"
        )
    # 1. the per-pixel cross-entropy (0 on ignored pixels)
    loss = cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    # 2. weight each pixel; ignored pixels weigh 0
    weight = pixel_weight.to(loss.dtype) * (target != ignore_index)
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)
