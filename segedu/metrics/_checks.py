"""Input checks shared by the metrics: clear errors instead of silently wrong numbers.

A metric fed the wrong thing rarely crashes on its own: float scores compare unequal to labels,
a label 255 that was meant to be ignored lands in a wrong bin, a ``uint8`` product overflows.
These helpers refuse such input with a message that names the problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "_check_labels",
    "_check_range",
    "_check_num_classes",
    "_check_ignore_index",
    "_check_same_shape",
    "_check_label_maps",
    "_labels_from_scores",
    "_check_confusion",
    "_unscored_classes",
    "_as_binary_masks",
]


def _check_labels(name: str, labels: torch.Tensor) -> None:
    """``labels`` must be a tensor of integer (or bool) class labels: ``TypeError`` otherwise."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of class labels, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(
            f"{name} must hold integer class labels, got {labels.dtype}; for scores "
            "(N, C, H, W) take .argmax(dim=1) first (the metric classes' update does it for you)"
        )


def _check_range(name: str, labels: torch.Tensor, num_classes: int) -> None:
    """Every label must lie in ``[0, num_classes)``: ``ValueError`` otherwise."""
    if not labels.numel():
        return
    low, high = torch.aminmax(labels)  # one pass over the data for both ends
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"{name} has labels in [{int(low)}, {int(high)}], outside "
            f"[0, {num_classes - 1}] for num_classes={num_classes}"
        )


def _check_num_classes(num_classes: int) -> None:
    """``num_classes`` must be a positive Python integer (a bool is refused)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")


def _check_ignore_index(ignore_index: int | None) -> None:
    """``ignore_index`` is ``None`` or an integer (any value: 255, -100, or a class in [0, C))."""
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise TypeError(f"ignore_index must be an integer or None, got {ignore_index!r}")


def _check_same_shape(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )


def _check_label_maps(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None
) -> None:
    """All the checks of a ``(pred, target, num_classes, ignore_index)`` call, in order.

    ``pred`` must lie in ``[0, C)``; ``target`` too, except for pixels equal to ``ignore_index``.
    """
    _check_labels("pred", pred)
    _check_labels("target", target)
    _check_same_shape(pred, target)
    _check_num_classes(num_classes)
    _check_ignore_index(ignore_index)
    _check_range("pred", pred, num_classes)
    # ignored pixels are replaced by 0, a valid label, rather than removed (no copy to compact)
    counted = target if ignore_index is None else target.masked_fill(target == ignore_index, 0)
    _check_range("target", counted, num_classes)


def _labels_from_scores(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Turn class scores ``(N, C, ...)`` into labels ``(N, ...)`` by an argmax over ``C``.

    Integer ``pred`` (already labels) is returned as it is. Float ``pred`` must have one
    dimension more than ``target``, and ``C == num_classes`` when ``num_classes`` is given.
    """
    _check_labels("target", target)
    if isinstance(pred, torch.Tensor) and pred.is_floating_point():
        if pred.ndim != target.ndim + 1:
            raise ValueError(
                f"float pred must be class scores (N, C, ...) with one dimension more than "
                f"target; got pred {tuple(pred.shape)} and target {tuple(target.shape)}"
            )
        if num_classes is not None and pred.shape[1] != num_classes:
            raise ValueError(
                f"class scores (N, C, ...) have C={pred.shape[1]} but num_classes={num_classes}"
            )
        pred = pred.argmax(dim=1)  # scores (N, C, ...) -> labels (N, ...)
    return pred


def _check_confusion(cm: torch.Tensor) -> None:
    if not isinstance(cm, torch.Tensor):
        raise TypeError(f"the confusion matrix must be a tensor, got {type(cm).__name__}")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"the confusion matrix must have shape (C, C), got {tuple(cm.shape)}")
    if cm.is_complex() or cm.dtype == torch.bool:
        raise TypeError(f"the confusion matrix must hold counts, got {cm.dtype}")
    if (cm < 0).any():
        raise ValueError("the confusion matrix holds negative counts")


def _unscored_classes(cm: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """``(C,)`` bool: the classes that get NaN, i.e. absent everywhere, or the ignored class."""
    _check_ignore_index(ignore_index)
    true_count, pred_count = cm.sum(dim=1), cm.sum(dim=0)
    unscored = (true_count + pred_count) == 0  # in neither the target nor the prediction
    if ignore_index is not None and 0 <= ignore_index < cm.shape[0]:
        unscored[ignore_index] = True  # its target pixels were all dropped: not scored
    return unscored


def _as_binary_masks(name: str, masks: Any) -> np.ndarray:
    """A bool numpy array from a tensor or array of bool or 0/1 integers; errors name the
    problem."""
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    if not isinstance(masks, np.ndarray):
        raise TypeError(
            f"{name} must be a tensor or numpy array of masks, got {type(masks).__name__}"
        )
    if masks.dtype == np.bool_:
        return masks
    if not np.issubdtype(masks.dtype, np.integer):
        raise TypeError(
            f"{name} must hold a binary mask (bool or 0/1 integers), got {masks.dtype}; "
            "threshold probabilities first, e.g. probs > 0.5"
        )
    if masks.size and (masks.min() < 0 or masks.max() > 1):
        raise ValueError(
            f"{name} must hold a binary mask (0/1), got values in [{masks.min()}, {masks.max()}]; "
            "for a label map pass (labels == c) for the class c you want"
        )
    return masks.astype(bool)
