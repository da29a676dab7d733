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
``panoptic``    0, 0                   category 0 / instance 0 is void
==============  =====================  ================================================

:class:`IgnoreOutside` gives ``semantic`` its different fill: it shifts the labels by one before
the wrapped transform (so the ``Mask`` fill 0 means "outside") and maps 0 to ``ignore_index``
afterwards.
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
    """Run ``transform`` so that ``semantic`` pixels it brings in from outside the image become
    ``ignore_index`` (the other masks get the wrapped transform's ``Mask`` fill, which must be 0).

    Requires non-negative ``semantic`` labels (an ``ignore_index`` already present stays).
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
    def _shift_up(target: dict[str, Any]) -> dict[str, Any]:
        if "semantic" in target:
            semantic = target["semantic"]
            if not isinstance(semantic, tv_tensors.Mask):
                raise SampleError(
                    f"target['semantic'] must be a tv_tensors.Mask, got {type(semantic).__name__}"
                )
            if semantic.numel() and semantic.min() < 0:
                raise SampleError(
                    f"target['semantic'] has a negative label {int(semantic.min())}; use a "
                    "non-negative ignore_index such as 255"
                )
            target["semantic"] = tv_tensors.wrap(semantic + 1, like=semantic)
        return target

    def _shift_down(self, target: dict[str, Any]) -> dict[str, Any]:
        if "semantic" in target:
            semantic = target["semantic"]
            restored = torch.where(semantic == 0, self.ignore_index, semantic - 1)
            target["semantic"] = tv_tensors.wrap(restored, like=semantic)
        return target
