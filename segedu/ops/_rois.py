"""Argument checks shared by the RoI operators (:mod:`segedu.ops.roi_pool`,
:mod:`segedu.ops.roi_align`).

Both take the regions of interest in either of torchvision's two layouts:

* a tensor ``(K, 5)``: each row ``[batch_index, x1, y1, x2, y2]``;
* a list of ``N`` tensors ``(L_i, 4)``: the ``xyxy`` boxes of image ``i`` of the batch.

:func:`as_rois` turns the second layout into the first.
"""

from __future__ import annotations

import torch

IMPLEMENTATIONS = ("torchvision", "reference")


def check_implementation(implementation: str) -> None:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")


def check_input(input: torch.Tensor) -> None:
    """``input`` must be a floating-point ``(N, C, H, W)`` tensor."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a tensor, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor, got {input.dtype}")
    if input.ndim != 4:
        raise ValueError(f"input must have shape (N, C, H, W), got {tuple(input.shape)}")


def check_box(box: torch.Tensor) -> None:
    """``box`` must be one region, a ``(4,)`` tensor ``[x1, y1, x2, y2]``."""
    if not isinstance(box, torch.Tensor) or box.shape != (4,):
        shape = tuple(box.shape) if isinstance(box, torch.Tensor) else type(box).__name__
        raise ValueError(f"box must be a (4,) tensor [x1, y1, x2, y2], got {shape}")


def pair(output_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``7 -> (7, 7)``; ``(7, 5) -> (7, 5)``; both must be positive integers."""
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        output_size = (output_size, output_size)
    if (
        not isinstance(output_size, (tuple, list))
        or len(output_size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in output_size)
    ):
        raise TypeError(
            f"output_size must be an int or a pair (height, width) of ints, got {output_size!r}"
        )
    if min(output_size) <= 0:
        raise ValueError(f"output_size must be positive, got {tuple(output_size)}")
    return int(output_size[0]), int(output_size[1])


def as_rois(boxes: torch.Tensor | list[torch.Tensor], input: torch.Tensor) -> torch.Tensor:
    """Regions in the ``(K, 5)`` layout ``[batch_index, x1, y1, x2, y2]``, checked against
    ``input``.

    Args:
        boxes: ``(K, 5)`` tensor, or a list/tuple of ``N`` tensors ``(L_i, 4)`` (one per image).
        input: the ``(N, C, H, W)`` feature maps the regions refer to.
    """
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != input.shape[0]:
            raise ValueError(
                f"boxes is a list of {len(boxes)} tensors but input holds {input.shape[0]} images"
            )
        for i, b in enumerate(boxes):
            if not isinstance(b, torch.Tensor):
                raise TypeError(f"boxes[{i}] must be a tensor, got {type(b).__name__}")
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(f"boxes[{i}] must have shape (L, 4), got {tuple(b.shape)}")
        # prepend the image index to each image's boxes
        rows = [torch.cat([b.new_full((len(b), 1), i), b], dim=1) for i, b in enumerate(boxes)]
        rois = torch.cat(rows, dim=0) if rows else input.new_zeros((0, 5))
    elif isinstance(boxes, torch.Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(
                f"boxes must be a (K, 5) tensor [batch_index, x1, y1, x2, y2] or a list of (L, 4) "
                f"tensors, got shape {tuple(boxes.shape)}"
            )
        rois = boxes
    else:
        raise TypeError(f"boxes must be a tensor or a list of tensors, got {type(boxes).__name__}")
    if rois.dtype != input.dtype:
        raise TypeError(
            f"boxes and input must have the same dtype, got {rois.dtype} and {input.dtype}"
        )
    batch_index = rois[:, 0]
    if len(rois) and (batch_index.min() < 0 or batch_index.max() >= input.shape[0]):
        raise ValueError(
            f"batch indices (column 0 of boxes) must lie in [0, {input.shape[0] - 1}], "
            f"got values in "
            f"[{batch_index.min().item()}, {batch_index.max().item()}]"
        )
    return rois
