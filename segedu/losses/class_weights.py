r"""Class weights against class imbalance: inverse frequency and median frequency.

Segmentation data is imbalanced: road and sky cover most pixels of a street scene, poles and
traffic lights few. Weighting the cross-entropy by class (``cross_entropy(..., weight=w)``)
makes a mistake on a rare class cost more. Two classic recipes, both computed from the
training labels:

**Inverse frequency** (scikit-learn's ``compute_class_weight("balanced")``):

.. math:: w_c = \frac{n}{C\, n_c}

with :math:`n_c` the number of pixels of class :math:`c`, :math:`n = \sum_c n_c` and :math:`C`
the number of classes. Every class then carries the same total weight :math:`n_c w_c = n / C`.

**Median frequency** (Eigen & Fergus 2015, used by SegNet):

.. math:: w_c = \frac{\operatorname{median}_k f_k}{f_c}, \qquad
          f_c = \frac{n_c}{\text{pixels of the images in which } c \text{ is present}} .

A class that is rare but large where it appears is not up-weighted as much as by inverse
frequency. The median is taken over the classes that occur (``numpy.median``: the mean of the
two middle values for an even count).

**Absent classes.** A class with no pixel would get an infinite weight. Both functions give it
weight **0** instead: it never appears as a target, so its weight never multiplies a loss
term; 0 keeps the weight vector finite. (scikit-learn refuses absent classes with an error.)

Ignored pixels (``ignore_index``) count nowhere: neither in :math:`n_c` nor in the totals.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import _check_ignore_index, _check_integer

__all__ = ["class_pixel_counts", "inverse_frequency_weights", "median_frequency_weights"]


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")


def class_pixel_counts(
    target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> torch.Tensor:
    """Number of pixels of each class in a label map of any shape: an int64 tensor ``(C,)``."""
    _check_integer("target", target)
    _check_num_classes(num_classes)
    _check_ignore_index(ignore_index)
    labels = target.reshape(-1).long()
    if ignore_index is not None:
        labels = labels[labels != ignore_index]  # ignored pixels count nowhere
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"target has labels in [{int(labels.min())}, {int(labels.max())}], outside "
            f"[0, {num_classes - 1}] for num_classes={num_classes}"
        )
    return torch.bincount(labels, minlength=num_classes)


def inverse_frequency_weights(
    target_or_counts: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
    *,
    from_counts: bool = False,
    normalize: bool = False,
) -> torch.Tensor:
    r"""Inverse-frequency class weights :math:`w_c = n / (C\, n_c)`, absent classes 0.

    Args:
        target_or_counts: integer label maps of any shape (e.g. the whole training set's masks
            ``(N, H, W)``), or, with ``from_counts=True``, pixel counts per class ``(C,)``.
        num_classes: number of classes ``C``.
        ignore_index: label of pixels to leave out (label maps only).
        from_counts: ``target_or_counts`` is a ``(C,)`` tensor of counts, not labels.
        normalize: rescale the weights to sum to 1. This changes neither the ``"mean"``
            cross-entropy (a weighted mean is unchanged by a common factor) nor anything
            relative; it only changes ``"sum"`` and ``"none"``.

    Returns:
        A float32 tensor ``(C,)``; all zeros when there is no pixel at all.
    """
    _check_num_classes(num_classes)
    if from_counts:
        counts = target_or_counts
        if not isinstance(counts, torch.Tensor):
            raise TypeError(f"counts must be a tensor, got {type(counts).__name__}")
        if counts.shape != (num_classes,):
            raise ValueError(
                f"counts must have shape (C,) = ({num_classes},), got {tuple(counts.shape)}"
            )
        if ignore_index is not None:
            raise ValueError("ignore_index applies to label maps, not to counts")
        if (counts < 0).any():
            raise ValueError("counts must not be negative")
        counts = counts.double()
    else:
        counts = class_pixel_counts(target_or_counts, num_classes, ignore_index).double()

    # w_c = n / (C n_c) for present classes; 0 for absent ones (no division by zero)
    total = counts.sum()
    present = counts > 0
    weights = torch.where(present, total / (num_classes * counts.clamp_min(1)), 0.0)
    if normalize and weights.sum() > 0:
        weights = weights / weights.sum()
    return weights.float()


def median_frequency_weights(
    targets: torch.Tensor | Sequence[torch.Tensor],
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    r"""Median-frequency class weights :math:`w_c = \operatorname{median}(f) / f_c` (SegNet).

    :math:`f_c` is the number of pixels of class :math:`c` divided by the number of (not
    ignored) pixels of the images in which :math:`c` is present.

    Args:
        targets: integer label maps ``(N, H, W)`` (or ``(N, ...)``), or a sequence of label
            maps of possibly different sizes, one per image.
        num_classes: number of classes ``C``.
        ignore_index: label of pixels to leave out.

    Returns:
        A float32 tensor ``(C,)``; absent classes get weight 0.
    """
    _check_num_classes(num_classes)
    if isinstance(targets, torch.Tensor):
        _check_integer("targets", targets)
        if targets.ndim < 1:
            raise ValueError("targets must have a batch dimension (N, ...)")
        images = list(targets)
    else:
        images = list(targets)

    class_pixels = torch.zeros(num_classes, dtype=torch.float64)  # n_c
    image_pixels = torch.zeros(num_classes, dtype=torch.float64)  # pixels of images holding c
    for image in images:
        # 1. count each class in this image
        counts = class_pixel_counts(image, num_classes, ignore_index).double()
        # 2. every class present here adds the image's (counted) pixels to its total
        class_pixels += counts
        image_pixels += (counts > 0).double() * counts.sum()

    # 3. frequencies of the present classes, their median, and the weights median / f_c
    present = class_pixels > 0
    if not present.any():
        return torch.zeros(num_classes)
    freq = torch.where(present, class_pixels / image_pixels.clamp_min(1), 0.0)
    median = torch.quantile(freq[present], 0.5)  # interpolates: the numpy median
    weights = torch.where(present, median / freq.clamp_min(1e-300), 0.0)
    return weights.float()
