"""What a geometric transform puts where it brings in pixels from outside the image.

A rotation (or an affine warp, or padding) fills the image corners it uncovers with a constant.
``transforms.v2`` chooses that constant per *type* (``fill={tv_tensors.Image: 0,
tv_tensors.Mask: 0}``), and ``semantic``, ``masks``, ``panoptic`` and ``instances`` are all
``tv_tensors.Mask``, so they all get the same fill. segedu's choice:

==============  =====================  ================================================
entry           fill                   why
==============  =====================  ================================================
image           0 (black)              any constant would do; black is visible
``semantic``    ``ignore_index`` 255   class 0 is a real class (often "background"):
                                       the loss and the metrics must skip these pixels
``masks``       0 (False)              no instance there
``instances``   0                      0 is "no instance"
``panoptic``    ``ignore_index``, 0    category 0 is a real class in the synthetic
                                       scenes (sky): void must be a category in
                                       neither ``things`` nor ``stuffs``
==============  =====================  ================================================

:class:`IgnoreOutside` gives ``semantic`` and the category channel of ``panoptic`` their
different fill: it shifts the labels by one before the wrapped transform (so the ``Mask`` fill 0
means "outside") and maps 0 to ``ignore_index`` afterwards.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..sample import SampleError
from ._structure import map_targets, unpack

__all__ = ["IgnoreOutside"]


class IgnoreOutside(v2.Transform):
    """Run ``transform`` so that ``semantic`` pixels and ``panoptic`` categories it brings in from
    outside the image become ``ignore_index`` (the other masks get the wrapped transform's ``Mask``
    fill, which must be 0; so the instance id of such a panoptic pixel is 0).

    Requires non-negative labels (an ``ignore_index`` already present stays).
    """

    def __init__(self, *, transform: v2.Transform, ignore_index: int = 255) -> None:
        super().__init__()
        if not callable(transform):
            raise TypeError(
                f"transform must be a callable transform, got {type(transform).__name__}"
            )
        if not isinstance(ignore_index, int) or ignore_index < 0:
            raise ValueError(f"ignore_index must be a non-negative int, got {ignore_index!r}")
        self.inner = transform
        self.ignore_index = ignore_index

    def forward(self, *inputs: Any) -> Any:
        # 1. labels + 1: class c becomes c + 1 and the fill 0 is free to mean "outside"
        shifted = map_targets(unpack(inputs), self._shift_up)
        # 2. the geometric transform itself (it fills semantic with 0)
        moved = self.inner(shifted)
        # 3. 0 -> ignore_index, c + 1 -> c
        return map_targets(moved, self._shift_down)

    @staticmethod
    def _class_labels(target: dict[str, Any], key: str) -> torch.Tensor | None:
        """The class-label tensor of ``key``: all of ``semantic``, channel 0 of ``panoptic``."""
        if key not in target:
            return None
        value = target[key]
        if not isinstance(value, tv_tensors.Mask):
            raise SampleError(f"target[{key!r}] must be a tv_tensors.Mask, got "
                              f"{type(value).__name__}")
        labels = value if key == "semantic" else value[0]
        if labels.numel() and labels.min() < 0:
            raise SampleError(
                f"target[{key!r}] has a negative class label {int(labels.min())}; use a "
                "non-negative ignore_index such as 255"
            )
        return labels

    def _shift_up(self, target: dict[str, Any]) -> dict[str, Any]:
        for key in ("semantic", "panoptic"):
            if self._class_labels(target, key) is None:
                continue
            value = target[key].as_subclass(torch.Tensor).clone()
            if key == "semantic":
                value += 1
            else:
                value[0] += 1
            target[key] = tv_tensors.wrap(value, like=target[key])
        return target

    def _shift_down(self, target: dict[str, Any]) -> dict[str, Any]:
        for key in ("semantic", "panoptic"):
            if key not in target:
                continue
            value = target[key].as_subclass(torch.Tensor).clone()
            labels = value if key == "semantic" else value[0]
            labels.copy_(torch.where(labels == 0, self.ignore_index, labels - 1))
            target[key] = tv_tensors.wrap(value, like=target[key])
        return target
