"""Keeping boxes, masks and labels consistent after geometric transforms.

After a crop, a rotation or an elastic deformation an instance may have left the image (its mask
is empty), and the boxes that ``transforms.v2`` moved along are no longer tight (a rotated box is
replaced by the box around the rotated box). Two transforms repair the target:

- :class:`BoxesFromMasks`: recompute every box as the tight box of its mask and drop the
  instances whose mask became empty, together with their label and crowd flag.
- :class:`SanitizeBoxes`: for targets with boxes but no masks, drop boxes thinner than a pixel
  (and their labels, crowd flags and masks, when there are any).

Both select the per-instance entries by their KEY (``masks``, ``labels``, ``iscrowd``), never by
their shape. torchvision's ``SanitizeBoundingBoxes`` guesses by shape and so also cuts into a
``panoptic`` map ``(2, H, W)`` when there are 2 boxes, or into ``semantic`` ``(H, W)`` when there
are ``H`` boxes; segedu uses :class:`SanitizeBoxes` instead.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ...ops import masks_to_boxes
from ..sample import SampleError
from ._structure import map_targets, unpack

__all__ = ["BoxesFromMasks", "SanitizeBoxes", "INSTANCE_KEYS"]

#: Per-instance entries of a target, indexed together with the boxes.
INSTANCE_KEYS = ("masks", "labels", "iscrowd")


def _keep_instances(target: dict[str, Any], keep: torch.Tensor) -> dict[str, Any]:
    """Index every per-instance entry of ``target`` (boxes included) with the bool ``keep`` (N,)."""
    for key in (*INSTANCE_KEYS, "boxes"):
        if key not in target:
            continue
        value = target[key]
        if value.shape[0] != keep.shape[0]:
            raise SampleError(
                f"target[{key!r}] has {value.shape[0]} entries but there are {keep.shape[0]} "
                "instances"
            )
        kept = value[keep]
        # indexing a tv_tensor returns a plain tensor: wrap it again (keeps format, canvas size)
        target[key] = (
            tv_tensors.wrap(kept, like=value) if isinstance(value, tv_tensors.TVTensor) else kept
        )
    return target


class BoxesFromMasks(v2.Transform):
    """Set ``target["boxes"]`` to the tight ``XYXY`` boxes of ``target["masks"]``; drop the
    instances whose mask is empty (their mask, box, label and crowd flag).

    Takes ``(image, target)``, ``target`` or any nesting of them, like every ``v2`` transform.
    A target without ``masks`` passes unchanged. Boxes cover whole pixels, as the sample format's
    (:func:`segedu.data.make_target`): a mask covering columns ``x0..x1`` gets ``x0`` and
    ``x1 + 1``.
    """

    def forward(self, *inputs: Any) -> Any:
        return map_targets(unpack(inputs), self._fix_target)

    @staticmethod
    def _fix_target(target: dict[str, Any]) -> dict[str, Any]:
        if "masks" not in target:
            return target
        masks = target["masks"]
        # 1. check that the masks are what the sample format promises
        if not isinstance(masks, tv_tensors.Mask):
            raise SampleError(
                f"target['masks'] must be a tv_tensors.Mask (bool, (N, H, W)), got "
                f"{type(masks).__name__}: a plain tensor would not be moved by the transforms"
            )
        if masks.ndim != 3:
            raise SampleError(
                f"target['masks'] must have shape (N, H, W), got {tuple(masks.shape)}"
            )
        # 2. drop the instances that have no pixel left
        keep = masks.flatten(1).any(dim=1)
        target = _keep_instances(target, keep)
        # 3. the tight box of every remaining (non-empty) mask, x2 and y2 on the pixels' edges
        boxes = masks_to_boxes(target["masks"], pixel_edges=True)
        target["boxes"] = tv_tensors.BoundingBoxes(
            boxes,
            format=tv_tensors.BoundingBoxFormat.XYXY,
            canvas_size=tuple(masks.shape[-2:]),
        )
        return target


class SanitizeBoxes(v2.Transform):
    """Drop boxes narrower or lower than ``min_size`` pixels after clamping them to the image,
    with their ``masks``, ``labels`` and ``iscrowd`` entries (selected by key, never by shape).

    Returned boxes are clamped to the image and in the ``XYXY`` format.
    """

    def __init__(self, *, min_size: float = 1.0) -> None:
        super().__init__()
        if not min_size > 0:
            raise ValueError(f"min_size must be > 0 pixels, got {min_size!r}")
        self.min_size = float(min_size)

    def forward(self, *inputs: Any) -> Any:
        return map_targets(unpack(inputs), self._fix_target)

    def _fix_target(self, target: dict[str, Any]) -> dict[str, Any]:
        if "boxes" not in target:
            return target
        boxes = target["boxes"]
        if not isinstance(boxes, tv_tensors.BoundingBoxes):
            raise SampleError(
                f"target['boxes'] must be tv_tensors.BoundingBoxes, got {type(boxes).__name__}"
            )
        # 1. XYXY, clamped to the canvas
        xyxy = F.convert_bounding_box_format(boxes, new_format=tv_tensors.BoundingBoxFormat.XYXY)
        height, width = xyxy.canvas_size
        x = xyxy[:, 0::2].as_subclass(torch.Tensor).clamp(0, width)
        y = xyxy[:, 1::2].as_subclass(torch.Tensor).clamp(0, height)
        clamped = torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)
        target["boxes"] = tv_tensors.wrap(clamped, like=xyxy)
        # 2. keep the boxes at least min_size wide and high
        keep = (x[:, 1] - x[:, 0] >= self.min_size) & (y[:, 1] - y[:, 0] >= self.min_size)
        return _keep_instances(target, keep)
