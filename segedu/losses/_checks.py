"""Input checks shared by the pixel and region losses.

A loss fed the wrong thing often runs anyway and returns a plausible number: float masks
compared with class indices, a label 255 that was meant to be ignored, logits ``(N, H, W, C)``
in channels-last order. These helpers refuse such input with a message naming the problem:
``TypeError`` for a wrong type or dtype, ``ValueError`` for a wrong value or shape.

The conventions are PyTorch's: ``logits`` are floats ``(N, C, ...)`` (a batch of ``N``
samples, ``C`` class scores per pixel, any number of spatial dimensions), ``target`` holds
integer class labels ``(N, ...)`` with the same spatial shape, each in ``[0, C)`` or equal to
``ignore_index``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "REDUCTIONS",
    "_check_reduction",
    "_check_float",
    "_check_integer",
    "_check_ignore_index",
    "_check_same_shape",
    "_check_logits_target",
    "_check_binary",
    "_check_masks",
    "_check_region_options",
    "_check_weight",
    "_reduce",
]

REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    """``reduction`` must be one of ``"none"``, ``"mean"``, ``"sum"`` (as in PyTorch)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_float(name: str, x: torch.Tensor) -> None:
    """``x`` must be a floating-point tensor (scores, probabilities, weights)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


def _check_integer(name: str, x: torch.Tensor) -> None:
    """``x`` must hold integer (or bool) class labels, never floats."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of class labels, got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex():
        raise TypeError(
            f"{name} must hold integer class labels, got {x.dtype}; "
            "convert a float mask with .long() (and check that it holds labels, not scores)"
        )


def _check_ignore_index(ignore_index: int | None) -> None:
    """``ignore_index`` is ``None`` or a Python integer (255, -100, or even a class in [0, C))."""
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise TypeError(f"ignore_index must be an integer or None, got {ignore_index!r}")


def _check_same_shape(name1: str, x1: torch.Tensor, name2: str, x2: torch.Tensor) -> None:
    if x1.shape != x2.shape:
        raise ValueError(
            f"{name1} and {name2} must have the same shape, got {tuple(x1.shape)} and "
            f"{tuple(x2.shape)}"
        )


def _check_labels_in_range(target: torch.Tensor, num_classes: int, ignore_index: int | None):
    """Every label of ``target`` lies in ``[0, num_classes)`` or equals ``ignore_index``."""
    counted = target if ignore_index is None else target[target != ignore_index]
    if counted.numel() and (counted.min() < 0 or counted.max() >= num_classes):
        raise ValueError(
            f"target has labels in [{int(counted.min())}, {int(counted.max())}], outside "
            f"[0, {num_classes - 1}] for C={num_classes} classes"
            + ("" if ignore_index is None else f" (ignore_index={ignore_index} aside)")
        )


def _check_logits_target(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None
) -> None:
    """Multi-class input: float ``logits (N, C, ...)``, integer ``target (N, ...)``.

    Checks, in order: the dtypes, that ``logits`` has a class dimension, that ``target`` has the
    shape of ``logits`` without it, and that every label is a class or ``ignore_index``.
    """
    _check_float("logits", logits)
    _check_integer("target", target)
    _check_ignore_index(ignore_index)
    if logits.ndim < 2:
        raise ValueError(
            f"logits must have shape (N, C, ...) with a class dimension, got {tuple(logits.shape)}"
        )
    if logits.shape[1] < 1:
        raise ValueError(f"logits must have at least one class, got shape {tuple(logits.shape)}")
    expected = logits.shape[:1] + logits.shape[2:]  # (N, C, ...) -> (N, ...)
    if target.shape != expected:
        raise ValueError(
            f"target must have shape (N, ...) = {tuple(expected)} for logits of shape "
            f"{tuple(logits.shape)} (N, C, ...), got {tuple(target.shape)}"
        )
    _check_labels_in_range(target, logits.shape[1], ignore_index)


def _check_binary(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary input: float ``logits`` ``(N, ...)`` or ``(N, 1, ...)``, 0/1 ``target (N, ...)``.

    Returns both with the same shape ``(N, ...)`` (a single channel dimension is squeezed).
    """
    _check_float("logits", logits)
    _check_integer("target", target)
    _check_ignore_index(ignore_index)
    if logits.ndim == target.ndim + 1 and logits.ndim >= 2 and logits.shape[1] == 1:
        logits = logits.squeeze(1)  # (N, 1, ...) -> (N, ...)
    if target.ndim == logits.ndim + 1 and target.ndim >= 2 and target.shape[1] == 1:
        target = target.squeeze(1)  # (N, 1, ...) -> (N, ...)
    _check_same_shape("logits", logits, "target", target)
    if logits.ndim < 1:
        raise ValueError("binary logits must have a batch dimension (N, ...)")
    _check_labels_in_range(target.long(), 2, ignore_index)
    return logits, target


def _check_masks(logits: torch.Tensor, target: torch.Tensor) -> None:
    """Per-mask input: float ``logits (N, ...)`` and a target of the same shape, bool or numbers
    in ``[0, 1]`` (soft targets allowed), with at least one pixel axis after ``N``."""
    _check_float("logits", logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a tensor, got {type(target).__name__}")
    if target.is_complex():
        raise TypeError(f"target must hold mask values in [0, 1], got {target.dtype}")
    _check_same_shape("logits", logits, "target", target)
    if logits.ndim < 2:
        raise ValueError(
            f"per-mask logits must have shape (N, ...) with a pixel axis, got {tuple(logits.shape)}"
        )
    if target.numel() and target.dtype != torch.bool and (target.min() < 0 or target.max() > 1):
        raise ValueError(
            f"target must hold mask values in [0, 1], got [{float(target.min()):.3g}, "
            f"{float(target.max()):.3g}]"
        )


REGION_MODES = ("multiclass", "binary", "per_mask")


def _check_region_options(
    mode: str,
    smooth: float,
    classes: Sequence[int] | None,
    *,
    per_image: bool = False,
    ignore_index: int | None = None,
) -> None:
    """The options shared by the region losses (Dice, Jaccard, Tversky), checked together."""
    if mode not in REGION_MODES:
        raise ValueError(f"mode must be one of {REGION_MODES}, got {mode!r}")
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or smooth < 0:
        raise ValueError(f"smooth must be a number >= 0, got {smooth!r}")
    if classes is not None and mode != "multiclass":
        raise ValueError("classes selects among C classes; it is for mode='multiclass' only")
    if mode == "per_mask" and (per_image or ignore_index is not None):
        raise ValueError(
            "mode='per_mask' gives one value per mask already and has no ignored pixels: "
            "per_image and ignore_index are for the multiclass and binary modes"
        )


def _check_weight(name: str, weight: torch.Tensor | None, size: int) -> None:
    """A per-class weight is ``None`` or a float tensor of shape ``(C,)``."""
    if weight is None:
        return
    _check_float(name, weight)
    if weight.shape != (size,):
        raise ValueError(f"{name} must have shape (C,) = ({size},), got {tuple(weight.shape)}")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """``"none"``: ``loss`` as it is; ``"mean"``: its mean; ``"sum"``: its sum."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
