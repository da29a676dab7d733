"""What every real-dataset loader shares: validation of each sample, then the joint transforms."""

from __future__ import annotations

import abc
import operator
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from segedu.data.sample import validate_sample

__all__ = ["SegmentationDataset"]


class SegmentationDataset(Dataset, abc.ABC):
    """Base class: subclasses fill ``self.samples`` (one entry per item) and implement
    :meth:`load`, which reads item ``index`` into the common sample format.

    ``__getitem__`` validates the sample (so that a corrupt annotation fails loudly, naming its
    file) and then applies ``transforms(image, target)``, a ``transforms.v2`` pipeline that moves
    the image, masks and boxes together.
    """

    samples: list[Any]

    def __init__(self, *, transforms: Callable | None = None) -> None:
        if transforms is not None and not callable(transforms):
            raise TypeError("transforms must be callable (image, target) -> (image, target), got "
                            f"{transforms!r}")
        self.transforms = transforms

    @abc.abstractmethod
    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        """Read item ``index`` (``0 <= index < len(self)``): ``(image, target, source)``, with
        ``source`` naming its files for error messages."""

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        try:
            index = operator.index(index)  # ints, numpy and 0-d torch integers
        except TypeError:
            raise TypeError(f"index must be an integer, got {type(index).__name__}") from None
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length "
                             f"{len(self)}")
        image, target, source = self.load(index % len(self))
        validate_sample(image, target, source=source)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()}, {len(self)} samples)"

    def extra_repr(self) -> str:
        return ""
