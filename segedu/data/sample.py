"""The common sample format of every segedu dataset, and its validation.

A dataset item is ``(image, target)``:

- ``image``: ``tv_tensors.Image``, float32 ``(C, H, W)`` in ``[0, 1]`` (``C = 3`` for photographs
  and synthetic scenes, ``C = 1`` for fluorescence microscopy).
- ``target``: a dict whose entries are optional, but typed and shaped as follows when present:

  ============  ==============================  ==============================================
  key           type, dtype, shape              meaning
  ============  ==============================  ==============================================
  ``semantic``  ``Mask`` int64 ``(H, W)``       class id per pixel (``ignore_index`` allowed)
  ``masks``     ``Mask`` bool ``(N, H, W)``     one binary mask per object instance
  ``boxes``     ``BoundingBoxes`` float32       ``(N, 4)`` in ``XYXY`` pixel coordinates,
                                                canvas ``(H, W)``
  ``labels``    ``torch.Tensor`` int64 ``(N,)``  class id of each instance
  ``panoptic``  ``Mask`` int64 ``(2, H, W)``     channel 0 category id (255 on void, like
                                                ``semantic``), channel 1 instance id
                                                (0 for stuff and void); channels first so that
                                                ``transforms.v2`` moves it like any mask; use
                                                :func:`panoptic_to_hw2` for ``(H, W, 2)``
  ``instances`` ``Mask`` int64 ``(H, W)``       instance label image, 0 is background
  ``iscrowd``   ``torch.Tensor`` bool ``(N,)``   COCO crowd flag of each instance
  ============  ==============================  ==============================================

Keeping the tensors in ``tv_tensors`` wrappers is what lets a ``transforms.v2`` pipeline move the
image, the masks and the boxes together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torchvision import tv_tensors

from ..ops import masks_to_boxes

__all__ = [
    "make_target",
    "validate_sample",
    "panoptic_to_hw2",
    "SampleError",
]


class SampleError(ValueError):
    """A sample breaks the common format; the message names the argument (and file) at fault."""


def _where(source: str | None) -> str:
    return f" in {source}" if source else ""


def _pixel_edge_boxes(masks: torch.Tensor) -> torch.Tensor:
    """The ``boxes`` of the sample format for masks ``(N, H, W)``: tight ``XYXY`` boxes that cover
    whole pixels, so a mask over columns ``x0..x1`` gets ``x0`` and ``x1 + 1`` (COCO's
    ``[x, y, w, h]`` with ``w`` the number of columns, torchvision's detection targets); an empty
    mask gets ``[0, 0, 0, 0]``."""
    if masks.ndim != 3:
        raise SampleError(f"masks must have shape (N, H, W), got {tuple(masks.shape)}")
    return masks_to_boxes(masks, pixel_edges=True)


def panoptic_to_hw2(panoptic: torch.Tensor) -> torch.Tensor:
    """``(2, H, W)`` or ``(B, 2, H, W)`` panoptic target -> ``(H, W, 2)`` / ``(B, H, W, 2)``,
    the layout :func:`segedu.metrics.panoptic_quality` takes."""
    if panoptic.ndim == 3 and panoptic.shape[0] == 2:
        return panoptic.permute(1, 2, 0).contiguous().as_subclass(torch.Tensor)
    if panoptic.ndim == 4 and panoptic.shape[1] == 2:
        return panoptic.permute(0, 2, 3, 1).contiguous().as_subclass(torch.Tensor)
    raise SampleError(
        f"panoptic must have shape (2, H, W) or (B, 2, H, W), got {tuple(panoptic.shape)}"
    )


def make_target(
    *,
    canvas_size: tuple[int, int],
    semantic: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
    boxes: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    panoptic: torch.Tensor | None = None,
    instances: torch.Tensor | None = None,
    iscrowd: torch.Tensor | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Wrap plain tensors into the common target dict (``tv_tensors``), then validate it.

    ``boxes`` default to the tight boxes of ``masks`` when masks are given without boxes: they
    cover whole pixels (a mask over columns ``x0..x1`` gets ``x0, x1 + 1``; one more than
    :func:`segedu.ops.masks_to_boxes`, torchvision's convention), ``[0, 0, 0, 0]`` when empty.
    ``source`` (a file name or ``"dataset[i]"``) is quoted in error messages.
    """
    h, w = canvas_size
    target: dict[str, Any] = {}
    boxes_from_masks = False  # boxes derived here agree with the masks by construction
    if semantic is not None:
        target["semantic"] = tv_tensors.Mask(torch.as_tensor(semantic).long())
    if masks is not None:
        target["masks"] = tv_tensors.Mask(torch.as_tensor(masks).bool())
        if boxes is None:
            boxes = _pixel_edge_boxes(target["masks"])
            boxes_from_masks = True
    if boxes is not None:
        target["boxes"] = tv_tensors.BoundingBoxes(
            torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            format=tv_tensors.BoundingBoxFormat.XYXY,
            canvas_size=(h, w),
        )
    if labels is not None:
        target["labels"] = torch.as_tensor(labels, dtype=torch.int64)
    if panoptic is not None:
        target["panoptic"] = tv_tensors.Mask(torch.as_tensor(panoptic).long())
    if instances is not None:
        target["instances"] = tv_tensors.Mask(torch.as_tensor(instances).long())
    if iscrowd is not None:
        target["iscrowd"] = torch.as_tensor(iscrowd).bool()
    validate_target(
        target, canvas_size=(h, w), source=source, check_boxes_match_masks=not boxes_from_masks
    )
    return target


def validate_target(
    target: Mapping[str, Any],
    *,
    canvas_size: tuple[int, int],
    source: str | None = None,
    check_boxes_match_masks: bool = True,
) -> None:
    """Raise :class:`SampleError` naming the key at fault when ``target`` breaks the format.

    With ``check_boxes_match_masks`` every box must equal the tight box of its (non-empty) mask
    to within one pixel: masks and boxes that disagree are a corrupt annotation.
    """
    h, w = canvas_size
    at = _where(source)
    if not isinstance(target, Mapping):
        raise SampleError(f"target must be a dict{at}, got {type(target).__name__}")

    def need(key: str, ndim: int, shape_tail: tuple[int, ...], what: str) -> torch.Tensor:
        value = target[key]
        if not isinstance(value, torch.Tensor):
            raise SampleError(f"target[{key!r}]{at} must be a tensor, got {type(value).__name__}")
        if value.ndim != ndim or tuple(value.shape[value.ndim - len(shape_tail):]) != shape_tail:
            raise SampleError(
                f"target[{key!r}]{at} must have shape {what} with (H, W) = {(h, w)}, "
                f"got {tuple(value.shape)}"
            )
        return value

    if "semantic" in target:
        sem = need("semantic", 2, (h, w), "(H, W)")
        if sem.dtype != torch.int64:
            raise SampleError(f"target['semantic']{at} must be int64, got {sem.dtype}")
    n = None
    if "masks" in target:
        masks = need("masks", 3, (h, w), "(N, H, W)")
        if masks.dtype != torch.bool:
            raise SampleError(f"target['masks']{at} must be bool, got {masks.dtype}")
        n = masks.shape[0]
    if "boxes" in target:
        boxes = target["boxes"]
        if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[-1] != 4:
            shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
            raise SampleError(f"target['boxes']{at} must have shape (N, 4), got {shape}")
        if not torch.isfinite(boxes).all():
            raise SampleError(f"target['boxes']{at} contains NaN or infinite coordinates")
        if ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
            raise SampleError(f"target['boxes']{at} has boxes with x2 < x1 or y2 < y1 (not XYXY?)")
        if n is not None and boxes.shape[0] != n:
            raise SampleError(
                f"target['boxes']{at} has {boxes.shape[0]} boxes but target['masks'] has {n} masks"
            )
        n = boxes.shape[0] if n is None else n
    if "labels" in target:
        labels = target["labels"]
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype != torch.int64:
            raise SampleError(f"target['labels']{at} must be an int64 tensor of shape (N,)")
        if n is not None and labels.shape[0] != n:
            raise SampleError(
                f"target['labels']{at} has {labels.shape[0]} entries but there are {n} instances"
            )
    if "iscrowd" in target:
        crowd = target["iscrowd"]
        if (
            not isinstance(crowd, torch.Tensor)
            or crowd.ndim != 1
            or (n is not None and crowd.shape[0] != n)
        ):
            raise SampleError(f"target['iscrowd']{at} must be a tensor of shape (N,) with N = {n}")
    if "panoptic" in target:
        pan = need("panoptic", 3, (h, w), "(2, H, W)")
        if pan.shape[0] != 2:
            raise SampleError(
                f"target['panoptic']{at} must have shape (2, H, W), got {tuple(pan.shape)}"
            )
    if "instances" in target:
        need("instances", 2, (h, w), "(H, W)")
    if check_boxes_match_masks and "masks" in target and "boxes" in target and n:
        tight = _pixel_edge_boxes(target["masks"])
        nonempty = target["masks"].flatten(1).any(dim=1)
        diff = (tight - target["boxes"].as_subclass(torch.Tensor)).abs().amax(dim=1)
        bad = torch.nonzero(nonempty & (diff > 1.0)).flatten()
        if len(bad):
            i = int(bad[0])
            raise SampleError(
                f"target{at}: box {i} {target['boxes'][i].tolist()} disagrees with its mask, whose "
                f"tight box is {tight[i].tolist()} (masks and boxes must describe the same object)"
            )


def validate_sample(image: Any, target: Mapping[str, Any], *, source: str | None = None) -> None:
    """Check a whole ``(image, target)`` item; raise :class:`SampleError` naming what is wrong."""
    at = _where(source)
    if not isinstance(image, torch.Tensor):
        raise SampleError(f"image{at} must be a tensor, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise SampleError(
            f"image{at} must have shape (C, H, W) with C in (1, 3), got {tuple(image.shape)}"
        )
    if not image.is_floating_point():
        raise SampleError(f"image{at} must be a float tensor in [0, 1], got {image.dtype}")
    if image.numel() and (image.min() < 0 or image.max() > 1):
        raise SampleError(
            f"image{at} values must lie in [0, 1], got [{float(image.min()):.3g}, "
            f"{float(image.max()):.3g}]"
        )
    validate_target(target, canvas_size=tuple(image.shape[-2:]), source=source)
