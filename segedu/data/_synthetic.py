"""Argument checks and small helpers shared by the synthetic data generators
(:mod:`.synthetic_scenes`, :mod:`.synthetic_cells`); private to :mod:`segedu.data`."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors

__all__ = ["_size_pair", "_nonneg_int", "_fraction_range", "_index", "_uniform", "_target"]


def _size_pair(size: Any, name: str = "size") -> tuple[int, int]:
    """``size`` as ``(H, W)``: an int gives a square image."""
    if isinstance(size, bool):
        raise TypeError(f"{name} must be an int or a pair (H, W) of ints, got {size!r}")
    if isinstance(size, numbers.Integral):
        size = (size, size)
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
    ):
        raise TypeError(f"{name} must be an int or a pair (H, W) of ints, got {size!r}")
    if min(size) < 8:
        raise ValueError(f"{name} must be at least 8 pixels on each side, got {tuple(size)}")
    return int(size[0]), int(size[1])


def _nonneg_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _fraction_range(value: Any, name: str) -> tuple[float, float]:
    """A pair ``(low, high)`` with ``0 < low <= high <= 1``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not 0 < low <= high <= 1:
        raise ValueError(f"{name} must satisfy 0 < low <= high <= 1, got {value!r}")
    return low, high


def _index(index: Any, length: int, owner: str) -> int:
    """A valid item index (negative counts from the end, as for a list)."""
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"{owner} indices must be integers, got {type(index).__name__}") from None
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"{owner} index {index} is out of range for length {length}")
    return i


def _uniform(rng: np.random.Generator, low: float, high: float, size: int | None = None):
    """``rng.uniform(low, high, size)``, bit for bit and from the same stream, at a third of
    its cost.

    numpy computes ``low + (high - low) * u`` from one ``rng.random()`` value ``u``; a scalar call
    to ``rng.uniform`` spends most of its time checking its arguments.
    """
    return low + (high - low) * rng.random(size)


def _target(canvas_size: tuple[int, int], **entries: torch.Tensor) -> dict[str, Any]:
    """The target dict of a generated item, in ``tv_tensors`` (as :func:`.sample.make_target`).

    ``entries`` are already of the sample format's dtypes and shapes, and consistent by
    construction (the boxes are the tight boxes of the masks); so, unlike ``make_target``, this does
    not validate them again per item (that took a quarter of the generation time). The tests
    validate the generators' items with :func:`.sample.validate_sample`.
    """
    target: dict[str, Any] = {}
    for key in ("semantic", "masks", "boxes", "labels", "panoptic", "instances"):
        if key not in entries:
            continue
        value = entries[key]
        if key == "boxes":
            target[key] = tv_tensors.BoundingBoxes(value, format=tv_tensors.BoundingBoxFormat.XYXY,
                                                   canvas_size=canvas_size)
        elif key == "labels":
            target[key] = value
        else:
            target[key] = tv_tensors.Mask(value)
    return target
