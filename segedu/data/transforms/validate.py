"""Check a sample before it enters a pipeline.

``transforms.v2`` moves a tensor only when it recognises its type: a ``masks`` entry stored as a
plain ``torch.Tensor`` instead of a ``tv_tensors.Mask`` is passed through *unchanged* while the
image is cropped and flipped, and the sample is silently corrupted. :class:`ValidateSample`
stops such a sample at the door with a message naming the entry at fault.
"""

from __future__ import annotations

from typing import Any

from torchvision import tv_tensors
from torchvision.transforms import v2

from ..sample import SampleError, validate_sample
from ._structure import MASK_KEYS, unpack

__all__ = ["ValidateSample"]


class ValidateSample(v2.Transform):
    """Raise :class:`segedu.data.SampleError` unless the input is a valid ``(image, target)``.

    Checks the wrapper types that ``transforms.v2`` relies on (``image``: ``tv_tensors.Image``;
    ``semantic``, ``masks``, ``panoptic``, ``instances``: ``tv_tensors.Mask``; ``boxes``:
    ``tv_tensors.BoundingBoxes``), then shapes and dtypes with
    :func:`segedu.data.validate_sample` (which also wants every box within a pixel of its mask's
    tight box). Returns the sample unchanged.
    """

    def forward(self, *inputs: Any) -> Any:
        sample = unpack(inputs)
        # 1. the pipelines take (image, target)
        if not (
            isinstance(sample, tuple | list) and len(sample) == 2 and isinstance(sample[1], dict)
        ):
            raise SampleError(
                "the sample must be (image, target) with target a dict, got "
                f"{type(sample).__name__}"
            )
        image, target = sample
        # 2. the wrapper types that decide what transforms.v2 moves
        if not isinstance(image, tv_tensors.Image):
            raise SampleError(f"image must be a tv_tensors.Image, got {type(image).__name__}")
        for key in MASK_KEYS:
            if key in target and not isinstance(target[key], tv_tensors.Mask):
                raise SampleError(
                    f"target[{key!r}] must be a tv_tensors.Mask, got {type(target[key]).__name__} "
                    "(transforms.v2 would leave it unmoved while the image moves)"
                )
        if "boxes" in target and not isinstance(target["boxes"], tv_tensors.BoundingBoxes):
            raise SampleError(
                "target['boxes'] must be tv_tensors.BoundingBoxes, got "
                f"{type(target['boxes']).__name__}"
            )
        if "boxes" in target and tuple(target["boxes"].canvas_size) != tuple(image.shape[-2:]):
            raise SampleError(
                f"target['boxes'].canvas_size is {tuple(target['boxes'].canvas_size)} but the "
                f"image is (H, W) = {tuple(image.shape[-2:])}"
            )
        # 3. shapes, dtypes and value ranges
        validate_sample(image, target)
        return sample
