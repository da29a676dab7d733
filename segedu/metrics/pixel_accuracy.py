"""Pixel accuracy: the fraction of (non-ignored) pixels whose predicted class is right.

.. math:: \\text{pixel accuracy} =
          \\frac{\\#\\{p : \\hat y_p = y_p\\}}{\\#\\{p : y_p \\ne \\text{ignore}\\}}

It is computed over the whole dataset (all pixels of all images together), not averaged over
images. Easy to read but easy to fool: on a dataset that is 90 % background, predicting
"background" everywhere scores 0.9, which is why segmentation papers report mean IoU as well.
Pixels whose target is ``ignore_index`` (object borders in VOC, "void" in Cityscapes) count
neither as right nor as wrong.
"""

from __future__ import annotations

import torch

from ._checks import (
    _check_confusion,
    _check_ignore_index,
    _check_label_maps,
    _check_labels,
    _check_range,
    _check_same_shape,
    _labels_from_scores,
)

__all__ = ["pixel_accuracy", "pixel_accuracy_from_confusion", "PixelAccuracy"]


def _count(
    pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(correct, counted)`` pixel counts as int64 scalar tensors."""
    if ignore_index is not None:
        keep = target != ignore_index  # the pixels that count
        pred, target = pred[keep], target[keep]
    correct = (pred == target).sum()
    return correct, torch.tensor(target.numel(), dtype=torch.int64, device=target.device)


def pixel_accuracy(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Fraction of the pixels with ``target != ignore_index`` where ``pred == target``.

    Args:
        pred: predicted class per pixel, integer tensor of any shape, e.g. ``(N, H, W)``.
        target: true class per pixel, integer tensor of the same shape.
        num_classes: number of classes ``C``; labels must lie in ``[0, C)``, except that
            ``target`` may also hold ``ignore_index``.
        ignore_index: target value of pixels to leave out.

    Returns:
        A float scalar tensor; NaN when no pixel counts (all ignored, or empty input).
        (torchmetrics returns 0 in that case.)

    >>> pixel_accuracy(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]), 2)
    tensor(0.7500)
    """
    _check_label_maps(pred, target, num_classes, ignore_index)
    correct, total = _count(pred, target, ignore_index)
    return correct.float() / total.float()  # float32 (float64 does not exist on Apple's MPS)


def pixel_accuracy_from_confusion(cm: torch.Tensor) -> torch.Tensor:
    r"""Pixel accuracy from a ``(C, C)`` confusion matrix: its trace over its sum,
    :math:`\sum_c M_{cc} / \sum_{ij} M_{ij}` (the diagonal holds the correct pixels).

    Returns a float32 scalar tensor, NaN for an all-zero matrix.
    """
    _check_confusion(cm)
    return cm.diagonal().sum().float() / cm.sum().float()


class PixelAccuracy:
    """Pixel accuracy accumulated over batches: ``update`` each batch, then ``compute``.

    The state is two counters (correct pixels, counted pixels), int64 tensors that live on the
    device of the data and add up over batches and over the processes of a multi-GPU run. (Two
    counters suffice, so unlike :class:`~segedu.metrics.MeanIoU` it keeps no confusion matrix
    and needs no ``num_classes``; ``pixel_accuracy_from_confusion`` reads it off a matrix.)

    Args:
        ignore_index: target value of pixels to leave out.

    >>> metric = PixelAccuracy(ignore_index=255)
    >>> for images, masks in loader:                 # doctest: +SKIP
    ...     metric.update(model(images)["out"], masks)  # logits (N, C, H, W), masks (N, H, W)
    >>> metric.compute()                             # doctest: +SKIP
    """

    def __init__(self, *, ignore_index: int | None = None) -> None:
        _check_ignore_index(ignore_index)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the counters keep their device)."""
        device = self.correct.device if hasattr(self, "correct") else "cpu"
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.total = torch.zeros((), dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch.

        Args:
            pred: class scores ``(N, C, ...)`` (logits or probabilities, floats; the class is
                their argmax over ``C``) or class labels ``(N, ...)`` (integers).
            target: class labels ``(N, ...)``, integers.
        """
        scores = isinstance(pred, torch.Tensor) and pred.is_floating_point()
        num_classes = pred.shape[1] if scores and pred.ndim > 1 else None
        pred = _labels_from_scores(pred, target)  # scores (N, C, ...) -> labels (N, ...)
        _check_labels("pred", pred)
        _check_same_shape(pred, target)
        if num_classes is not None:  # with scores, C is known: check the target's labels too
            counted = target if self.ignore_index is None else target[target != self.ignore_index]
            _check_range("target", counted, num_classes)
        # the counters follow the data to its device (a GPU in training)
        if self.correct.device != target.device:
            self.correct = self.correct.to(target.device)
            self.total = self.total.to(target.device)
        correct, total = _count(pred.to(target.device), target, self.ignore_index)
        self.correct += correct
        self.total += total

    def compute(self) -> torch.Tensor:
        """Accuracy over every batch since the last reset; NaN before any counted pixel."""
        return self.correct.float() / self.total.float()

    def states(self) -> dict[str, torch.Tensor]:
        """The counters themselves (not copies): summing them over processes gives the total."""
        return {"correct": self.correct, "total": self.total}

    def __repr__(self) -> str:
        return (
            f"PixelAccuracy(ignore_index={self.ignore_index}, correct={int(self.correct)}, "
            f"total={int(self.total)})"
        )
