"""Random (pred, target) label maps for the semantic metric tests, seeded and varied.

Each case draws a shape of 1 to 4 dimensions (sometimes with a zero-size dimension: an empty
input), a class count from 1 to 8, a random subset of classes present in the target and in the
prediction (so that some classes are absent from one or both), a prediction that agrees with the
target on about half of the pixels, and, with an ``ignore_index``, a fraction of ignored target
pixels that is 0, 20 % or 100 % (all ignored).
"""

from __future__ import annotations

import torch

IGNORE_INDICES = [None, 255, -100, 0]


def _randint(low: int, high: int, g: torch.Generator) -> int:
    return int(torch.randint(low, high, (), generator=g))


def _subset(num_classes: int, g: torch.Generator) -> torch.Tensor:
    """A random non-empty subset of the classes."""
    size = _randint(1, num_classes + 1, g)
    return torch.randperm(num_classes, generator=g)[:size]


def random_case(g: torch.Generator, ignore_index: int | None):
    """``(pred, target, num_classes)``: integer label maps of one random shape."""
    ndim = _randint(1, 5, g)
    shape = tuple(_randint(1, 7, g) for _ in range(ndim))
    if torch.rand((), generator=g) < 0.08:  # now and then an empty input
        shape = (*shape[:-1], 0)
    num_classes = _randint(1, 9, g)
    # target and prediction each use a random subset of the classes
    target_classes, pred_classes = _subset(num_classes, g), _subset(num_classes, g)
    target = target_classes[torch.randint(0, len(target_classes), shape, generator=g)]
    guess = pred_classes[torch.randint(0, len(pred_classes), shape, generator=g)]
    pred = torch.where(torch.rand(shape, generator=g) < 0.5, target, guess)
    if ignore_index is not None:
        fraction = [0.0, 0.2, 0.2, 1.0][_randint(0, 4, g)]
        target = torch.where(torch.rand(shape, generator=g) < fraction, ignore_index, target)
    return pred, target, num_classes


def counted(pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None):
    """The flattened (pred, target) pixels that count: ``ignore_index`` pixels dropped."""
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is None:
        return pred, target
    keep = target != ignore_index
    return pred[keep], target[keep]
