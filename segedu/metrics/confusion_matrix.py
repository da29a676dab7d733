r"""The confusion matrix: every semantic segmentation metric is a function of it.

For ``C`` classes it is the ``(C, C)`` table of pixel counts

.. math:: M_{ij} = \#\{p : y_p = i,\ \hat y_p = j\}

with **rows = ground truth** ``i`` and **columns = prediction** ``j``, as in scikit-learn and
torchmetrics. Its diagonal holds the correctly classified pixels; for class ``c``,

- true positives  :math:`TP_c = M_{cc}`,
- false negatives :math:`FN_c = \sum_j M_{cj} - M_{cc}` (row sum minus diagonal),
- false positives :math:`FP_c = \sum_i M_{ic} - M_{cc}` (column sum minus diagonal).

Pixel accuracy, IoU and Dice all follow from these counts (see ``pixel_accuracy.py``,
``iou.py``, ``dice.py``). Because counts add up, the matrix of a whole dataset is the sum of the
matrices of its batches, and of the matrices of the processes of a multi-GPU run: the metrics are
*dataset-level*, not means of per-image scores.

How it is counted, in one ``bincount``: the pair ``(i, j)`` gets the single index ``i * C + j``
in ``[0, C^2)``; counting how often each index occurs and reshaping the ``C^2`` counts to
``(C, C)`` gives ``M``.

Pixels whose target is ``ignore_index`` are dropped before counting. When ``ignore_index`` is a
class in ``[0, C)``, its row stays zero; a pixel *predicted* as that class still counts (in its
column), as in torchmetrics.
"""

from __future__ import annotations

import torch

from ._checks import _check_ignore_index, _check_label_maps, _check_num_classes, _labels_from_scores

__all__ = ["confusion_matrix", "ConfusionMatrix"]


def _count_pairs(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None
) -> torch.Tensor:
    """The ``(C, C)`` int64 counts of already checked labels (no checks here)."""
    # 1. one index per (true, predicted) pair; int64 first, so that uint8 labels cannot overflow
    pair_index = target.reshape(-1).long() * num_classes + pred.reshape(-1).long()
    # 2. pixels whose target is ignore_index go to one extra bin, C^2, dropped after counting
    #    (cheaper than removing them from the tensors first)
    if ignore_index is not None:
        pair_index = pair_index.masked_fill(target.reshape(-1) == ignore_index,
                                            num_classes * num_classes)
    # 3. count each of the C^2 possible pairs and lay the counts out as rows=true, cols=predicted
    counts = torch.bincount(pair_index, minlength=num_classes * num_classes + 1)
    return counts[: num_classes * num_classes].reshape(num_classes, num_classes)


def confusion_matrix(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Count the pixels of each (true class, predicted class) pair.

    Args:
        pred: predicted class per pixel, integer tensor of any shape, e.g. ``(N, H, W)``.
        target: true class per pixel, integer tensor of the same shape.
        num_classes: number of classes ``C``; labels must lie in ``[0, C)``, except that
            ``target`` may also hold ``ignore_index``.
        ignore_index: target value of pixels to leave out (e.g. 255 for VOC's object borders).

    Returns:
        ``(C, C)`` int64 tensor on the device of the inputs; entry ``[i, j]`` is the number of
        pixels of true class ``i`` predicted as ``j``. It sums to the number of counted pixels.

    >>> confusion_matrix(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]), 2)
    tensor([[1, 1],
            [0, 2]])
    """
    _check_label_maps(pred, target, num_classes, ignore_index)
    return _count_pairs(pred, target, num_classes, ignore_index)


class ConfusionMatrix:
    """A confusion matrix accumulated over batches: ``update`` each batch, then ``compute``.

    The state is the ``(C, C)`` int64 matrix itself. It lives on the device of the data (it
    moves there on the first ``update``), adds up over batches, and over the processes of a
    multi-GPU run when :func:`segedu.engine.evaluate` sums ``states()``.

    The classes :class:`~segedu.metrics.MeanIoU`, :class:`~segedu.metrics.DiceScore`, ... are
    this class with another ``compute``: they all keep just this matrix.

    Args:
        num_classes: number of classes ``C``.
        ignore_index: target value of pixels to leave out.

    >>> metric = ConfusionMatrix(num_classes=21, ignore_index=255)
    >>> for images, masks in loader:                 # doctest: +SKIP
    ...     metric.update(model(images)["out"], masks)  # logits (N, C, H, W), masks (N, H, W)
    >>> metric.compute()                             # doctest: +SKIP
    """

    def __init__(self, *, num_classes: int, ignore_index: int | None = None) -> None:
        _check_num_classes(num_classes)
        _check_ignore_index(ignore_index)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the matrix keeps its device)."""
        device = self.matrix.device if hasattr(self, "matrix") else "cpu"
        size = (self.num_classes, self.num_classes)
        self.matrix = torch.zeros(size, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch.

        Args:
            pred: class scores ``(N, C, ...)`` (logits or probabilities, floats; the class is
                their argmax over ``C``) or class labels ``(N, ...)`` (integers).
            target: class labels ``(N, ...)``, integers.
        """
        pred = _labels_from_scores(pred, target, self.num_classes)
        # check everything before touching the state: a refused batch leaves no trace
        _check_label_maps(pred, target, self.num_classes, self.ignore_index)
        # the matrix follows the data to its device (a GPU in training)
        if self.matrix.device != target.device:
            self.matrix = self.matrix.to(target.device)
        self.matrix += _count_pairs(
            pred.to(target.device), target, self.num_classes, self.ignore_index
        )

    def compute(self) -> torch.Tensor:
        """The ``(C, C)`` matrix of every batch since the last reset (a copy)."""
        return self.matrix.clone()

    def states(self) -> dict[str, torch.Tensor]:
        """The matrix itself (not a copy): summing it over processes gives the total."""
        return {"matrix": self.matrix}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, "
            f"ignore_index={self.ignore_index}, pixels={int(self.matrix.sum())})"
        )
