"""Tight boxes around binary masks, with torchvision's *pixel-index* convention.

A mask occupying columns ``x_min .. x_max`` and rows ``y_min .. y_max`` (inclusive) gets the box
``[x_min, y_min, x_max, y_max]``: ``x2`` is the index of the **last** column, not the right edge
of that column. A single-pixel mask therefore gets a zero-area box. This is what
:func:`torchvision.ops.masks_to_boxes` returns.

This is segedu's only ``masks_to_boxes``. The sample format's boxes
(:func:`segedu.data.make_target`, :class:`segedu.data.BoxesFromMasks`), the detection targets
of Panoptic FPN and the zoo, and Mask2Former's predicted boxes follow the other, *pixel-edge*
convention of COCO, detectron2 and detection targets: the box covers whole pixels, so its
``x2, y2`` are one larger. They ask for it with ``pixel_edges=True``, which adds the 1 to
non-empty masks only (an empty mask keeps the all-zero box, as torchvision documents).
"""

from __future__ import annotations

import torch

__all__ = ["masks_to_boxes"]


def masks_to_boxes(masks: torch.Tensor, *, pixel_edges: bool = False) -> torch.Tensor:
    """``xyxy`` boxes ``(N, 4)`` (float32) around the non-zero pixels of masks ``(N, H, W)``.

    Any non-zero value counts as foreground (bool, integer or float masks). ``x2``/``y2`` are
    the last occupied column/row (inclusive, as torchvision), or with ``pixel_edges=True`` one
    more: the right and bottom edges of those pixels. An empty mask gives ``[0, 0, 0, 0]``;
    ``N = 0`` gives a ``(0, 4)`` tensor.

    One deliberate difference: for ``N > 0`` masks of zero size (``H = 0`` or ``W = 0``)
    torchvision returns a ``(0, 4)`` tensor (it tests ``masks.numel() == 0``), losing the
    one-box-per-mask correspondence; here they are ``N`` empty masks, so ``N`` zero boxes.

    >>> m = torch.zeros(1, 4, 5, dtype=torch.bool); m[0, 1:3, 2:5] = True
    >>> masks_to_boxes(m)
    tensor([[2., 1., 4., 2.]])
    """
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a tensor, got {type(masks).__name__}")
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (N, H, W), got {tuple(masks.shape)}")
    n, height, width = masks.shape
    boxes = torch.zeros((n, 4), dtype=torch.float32, device=masks.device)
    if masks.numel() == 0:
        return boxes

    foreground = masks != 0
    rows = foreground.any(dim=2)  # (N, H): rows that the mask touches
    cols = foreground.any(dim=1)  # (N, W): columns that the mask touches
    nonempty = rows.any(dim=1)  # (N,)

    # first and last occupied index: min / max over the occupied positions
    ys = torch.arange(height, device=masks.device)
    xs = torch.arange(width, device=masks.device)
    y1 = torch.where(rows, ys, height).amin(dim=1)
    y2 = torch.where(rows, ys, -1).amax(dim=1)
    x1 = torch.where(cols, xs, width).amin(dim=1)
    x2 = torch.where(cols, xs, -1).amax(dim=1)

    tight = torch.stack([x1, y1, x2, y2], dim=1).float()
    if pixel_edges:  # the far edges of the last column and row
        tight[:, 2:] += 1
    boxes[nonempty] = tight[nonempty]  # empty masks keep the all-zero box
    return boxes
