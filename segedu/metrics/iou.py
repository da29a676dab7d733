r"""Intersection over union (IoU, the Jaccard index) per class, its mean, and its weighted mean.

For class ``c``, the pixels predicted ``c`` and the pixels truly ``c`` are two sets; IoU is the
size of their intersection over the size of their union. From the confusion matrix ``M``
(rows = truth, columns = prediction, see ``confusion_matrix.py``):

.. math::

    \mathrm{IoU}_c = \frac{TP_c}{TP_c + FP_c + FN_c}
                   = \frac{M_{cc}}{\sum_j M_{cj} + \sum_i M_{ic} - M_{cc}}

- **mean IoU** (mIoU), the headline number of semantic segmentation (VOC, Cityscapes, ADE20K):
  :math:`\frac{1}{|K|}\sum_{c \in K} \mathrm{IoU}_c` over the set ``K`` of classes that occur
  (in the prediction or the target). Every class weighs the same, however small.
- **frequency-weighted IoU** (FCN paper, Long et al. 2015):
  :math:`\sum_c f_c \,\mathrm{IoU}_c` with :math:`f_c = \sum_j M_{cj} / \sum_{ij} M_{ij}` the
  fraction of (counted) pixels that truly belong to ``c``. Large classes dominate it.

All are *dataset-level*: the counts of all images are added first, then divided (one image where
a class is tiny does not swing the result). A class absent from both the prediction and the
target has IoU 0/0: it is NaN here and left out of the means (a class that is absent everywhere
says nothing about the model).

``ignore_index`` pixels are dropped. When ``ignore_index`` is a class ``k`` in ``[0, C)``, that
class has no ground truth left and is not scored: ``IoU_k`` is NaN and ``k`` is left out of the
means, as torchmetrics' ``MulticlassJaccardIndex(average="macro")`` does. (Pixels *predicted* as
``k`` on counted pixels remain errors of their true class.)

Differences with torchmetrics' ``MulticlassJaccardIndex(average=None)``: it gives ``0``
(``zero_division``) instead of NaN for an absent class, and ``0`` (or the ``zero_division``
value) for the ignored class ``k``. Its ``"macro"`` and ``"weighted"`` averages equal
:func:`mean_iou` and :func:`frequency_weighted_iou`. ``torchmetrics.segmentation.MeanIoU``
differs on purpose: it averages per-image IoUs over images instead.

The results are float32 (Apple's MPS has no float64): exact for counts below :math:`2^{24}`, and
within a relative :math:`6 \cdot 10^{-8}` above.
"""

from __future__ import annotations

import torch

from ._checks import _check_confusion, _unscored_classes
from .confusion_matrix import ConfusionMatrix, confusion_matrix

__all__ = [
    "iou_from_confusion",
    "mean_iou_from_confusion",
    "frequency_weighted_iou_from_confusion",
    "iou_per_class",
    "mean_iou",
    "frequency_weighted_iou",
    "MeanIoU",
    "FrequencyWeightedIoU",
]


def iou_from_confusion(cm: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """IoU of each class from a confusion matrix.

    Args:
        cm: ``(C, C)`` counts, rows = ground truth, columns = prediction.
        ignore_index: the ``ignore_index`` the matrix was counted with; if it is a class in
            ``[0, C)``, that class gets NaN.

    Returns:
        ``(C,)`` float32 tensor; NaN for a class absent from both prediction and target.
    """
    _check_confusion(cm)
    cm = cm.float()
    # 1. intersection = true positives, the diagonal
    intersection = cm.diagonal()
    # 2. union = |truth| + |prediction| - |intersection|  (row sum + column sum - diagonal)
    union = cm.sum(dim=1) + cm.sum(dim=0) - intersection
    # 3. divide (0 / 0 = NaN for a class in neither); the ignored class is not scored either
    iou = intersection / union
    return iou.masked_fill(_unscored_classes(cm, ignore_index), float("nan"))


def mean_iou_from_confusion(cm: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """Mean IoU over the scored classes (a NaN-skipping mean); NaN when no class is scored."""
    return torch.nanmean(iou_from_confusion(cm, ignore_index))


def frequency_weighted_iou_from_confusion(
    cm: torch.Tensor, ignore_index: int | None = None
) -> torch.Tensor:
    r""":math:`\sum_c f_c \mathrm{IoU}_c` with ``f_c`` the fraction of counted pixels of true
    class ``c``; NaN when no pixel is counted."""
    iou = iou_from_confusion(cm, ignore_index)
    true_count = cm.float().sum(dim=1)
    if true_count.sum() == 0:  # no counted pixel: nothing to weigh
        return torch.tensor(float("nan"), device=cm.device)
    # 1. class frequencies in the ground truth
    frequency = true_count / true_count.sum()
    # 2. a class with no true pixel weighs 0 (its IoU is 0 or NaN, and 0 * NaN would be NaN)
    return torch.where(true_count > 0, frequency * iou, torch.zeros_like(iou)).sum()


def iou_per_class(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """IoU of each class over all pixels of ``pred`` and ``target``.

    Args:
        pred: predicted class per pixel, integer tensor of any shape, e.g. ``(N, H, W)``.
        target: true class per pixel, integer tensor of the same shape.
        num_classes: number of classes ``C``; labels must lie in ``[0, C)``, except that
            ``target`` may also hold ``ignore_index``.
        ignore_index: target value of pixels to leave out.

    Returns:
        ``(C,)`` float32 tensor; NaN for a class absent from both prediction and target (and for
        the class ``ignore_index`` when it lies in ``[0, C)``).

    >>> pred = torch.tensor([[0, 1], [1, 1]])
    >>> target = torch.tensor([[0, 1], [0, 1]])
    >>> iou_per_class(pred, target, 2)  # class 0: 1 / 2; class 1: 2 / 3
    tensor([0.5000, 0.6667])
    """
    return iou_from_confusion(
        confusion_matrix(pred, target, num_classes, ignore_index), ignore_index
    )


def mean_iou(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Mean of :func:`iou_per_class` over the classes present in ``pred`` or ``target``.

    Same arguments as :func:`iou_per_class`. Returns a float32 scalar tensor, NaN when no pixel
    is counted (everything ignored, or empty input; torchmetrics gives NaN too).
    """
    return mean_iou_from_confusion(
        confusion_matrix(pred, target, num_classes, ignore_index), ignore_index
    )


def frequency_weighted_iou(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    r"""IoU of each class weighted by its share of the (counted) ground-truth pixels.

    .. math:: \mathrm{fwIoU} = \sum_c \frac{|\{p : y_p = c\}|}{|\{p : y_p \ne \text{ignore}\}|}
              \,\mathrm{IoU}_c

    Same arguments as :func:`iou_per_class`. Returns a float32 scalar tensor, NaN when no pixel
    is counted.
    """
    return frequency_weighted_iou_from_confusion(
        confusion_matrix(pred, target, num_classes, ignore_index), ignore_index
    )


class MeanIoU(ConfusionMatrix):
    """Mean IoU accumulated over batches (a :class:`ConfusionMatrix` with another ``compute``).

    Args:
        num_classes: number of classes ``C``.
        ignore_index: target value of pixels to leave out.
        per_class: ``compute`` returns the ``(C,)`` IoU of each class instead of their mean.

    ``update(pred, target)`` takes scores ``(N, C, ...)`` or labels ``(N, ...)``, as
    :meth:`ConfusionMatrix.update`; ``states()`` is the ``(C, C)`` matrix.
    """

    def __init__(
        self, *, num_classes: int, ignore_index: int | None = None, per_class: bool = False
    ) -> None:
        super().__init__(num_classes=num_classes, ignore_index=ignore_index)
        self.per_class = bool(per_class)

    def compute(self) -> torch.Tensor:
        """Scalar mean IoU (or ``(C,)`` per class) over every batch since the last reset."""
        if self.per_class:
            return iou_from_confusion(self.matrix, self.ignore_index)
        return mean_iou_from_confusion(self.matrix, self.ignore_index)


class FrequencyWeightedIoU(ConfusionMatrix):
    """Frequency-weighted IoU accumulated over batches (a :class:`ConfusionMatrix`).

    Args:
        num_classes: number of classes ``C``.
        ignore_index: target value of pixels to leave out.
    """

    def compute(self) -> torch.Tensor:
        """Scalar frequency-weighted IoU over every batch since the last reset."""
        return frequency_weighted_iou_from_confusion(self.matrix, self.ignore_index)
