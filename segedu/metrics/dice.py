r"""The Dice score (F1 score) per class and its mean over classes.

For class ``c``, with the counts of the confusion matrix ``M`` (rows = truth, columns =
prediction, see ``confusion_matrix.py``):

.. math::

    \mathrm{Dice}_c = \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}
                    = \frac{2 M_{cc}}{\sum_j M_{cj} + \sum_i M_{ic}}
                    = \frac{2 |P_c \cap T_c|}{|P_c| + |T_c|}

where :math:`P_c` and :math:`T_c` are the predicted and the true pixels of ``c``. It is the F1
score of class ``c`` (the harmonic mean of its precision and recall), and a monotone function of
its IoU: :math:`\mathrm{Dice} = 2\,\mathrm{IoU} / (1 + \mathrm{IoU})`, so Dice is never below
IoU. Medical imaging reports Dice; natural-image benchmarks report IoU.

:func:`dice_score` is the mean of :func:`dice_per_class` over the classes that occur (in the
prediction or the target); it is dataset-level (counts added over all images first). A class
absent from both has Dice 0/0: NaN, left out of the mean. ``ignore_index`` pixels are dropped;
when ``ignore_index`` is a class ``k`` in ``[0, C)``, ``k`` is not scored (NaN) and left out of
the mean, exactly as for :mod:`segedu.metrics.iou`.

References and their conventions:

- ``torchmetrics.segmentation.dice_score(..., input_format="index", aggregation_level="global")``
  with ``average="none"`` / ``"macro"`` equals :func:`dice_per_class` / :func:`dice_score`,
  NaN for absent classes included (it has no ``ignore_index``).
- ``torchmetrics.classification.MulticlassF1Score``: ``average=None`` gives ``0``
  (``zero_division``) instead of NaN for an absent class. With ``average="macro"`` and
  ``ignore_index = k`` in ``[0, C)``, it keeps ``k`` in the mean, scored 0, whenever some counted
  pixel is *predicted* as ``k`` (its ``MulticlassJaccardIndex`` leaves ``k`` out). segedu leaves
  ``k`` out for both IoU and Dice: the class has no ground truth left, so it is not scored.
  When every pixel is ignored it returns 0, segedu NaN.
- scikit-learn ``f1_score(..., labels=range(C), zero_division=numpy.nan)`` equals
  :func:`dice_per_class`, and with ``average="macro"`` :func:`dice_score`.
"""

from __future__ import annotations

import torch

from ._checks import _check_confusion, _unscored_classes
from .confusion_matrix import ConfusionMatrix, confusion_matrix

__all__ = ["dice_from_confusion", "dice_per_class", "dice_score", "DiceScore"]


def dice_from_confusion(cm: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """Dice score of each class from a confusion matrix.

    Args:
        cm: ``(C, C)`` counts, rows = ground truth, columns = prediction.
        ignore_index: the ``ignore_index`` the matrix was counted with; if it is a class in
            ``[0, C)``, that class gets NaN.

    Returns:
        ``(C,)`` float32 tensor; NaN for a class absent from both prediction and target.
    """
    _check_confusion(cm)
    cm = cm.float()
    # 1. twice the overlap: 2 TP, the doubled diagonal
    twice_overlap = 2 * cm.diagonal()
    # 2. |true pixels| + |predicted pixels| = 2 TP + FN + FP  (row sum + column sum)
    sizes = cm.sum(dim=1) + cm.sum(dim=0)
    # 3. divide (0 / 0 = NaN for a class in neither); the ignored class is not scored either
    dice = twice_overlap / sizes
    return dice.masked_fill(_unscored_classes(cm, ignore_index), float("nan"))


def dice_per_class(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Dice score (F1) of each class over all pixels of ``pred`` and ``target``.

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
    >>> dice_per_class(pred, target, 2)  # class 0: 2*1 / (2 + 1); class 1: 2*2 / (2 + 3)
    tensor([0.6667, 0.8000])
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index)
    return dice_from_confusion(cm, ignore_index)


def dice_score(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Mean of :func:`dice_per_class` over the classes present in ``pred`` or ``target``.

    Same arguments as :func:`dice_per_class`. Returns a float32 scalar tensor, NaN when no pixel
    is counted (everything ignored, or empty input).
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index)
    return torch.nanmean(dice_from_confusion(cm, ignore_index))


class DiceScore(ConfusionMatrix):
    """Mean Dice score accumulated over batches (a :class:`ConfusionMatrix`).

    Args:
        num_classes: number of classes ``C``.
        ignore_index: target value of pixels to leave out.
        per_class: ``compute`` returns the ``(C,)`` Dice of each class instead of their mean.

    ``update(pred, target)`` takes scores ``(N, C, ...)`` or labels ``(N, ...)``, as
    :meth:`ConfusionMatrix.update`; ``states()`` is the ``(C, C)`` matrix.
    """

    def __init__(
        self, *, num_classes: int, ignore_index: int | None = None, per_class: bool = False
    ) -> None:
        super().__init__(num_classes=num_classes, ignore_index=ignore_index)
        self.per_class = bool(per_class)

    def compute(self) -> torch.Tensor:
        """Scalar mean Dice (or ``(C,)`` per class) over every batch since the last reset."""
        dice = dice_from_confusion(self.matrix, self.ignore_index)
        return dice if self.per_class else torch.nanmean(dice)
