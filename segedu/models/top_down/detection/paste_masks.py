"""Pasting Mask R-CNN's small masks back into the image.

The mask head predicts, for each detection, a fixed ``28 x 28`` grid of probabilities over the
detected *box*. To get a mask of the image, each grid is resized (bilinearly) to the box's size in
pixels and written at the box's place; the rest of the image is 0.

Detectron's trick, kept by torchvision: before resizing, the ``M x M`` grid is padded with one
row and column of zeros on every side, and the box is enlarged by the same factor
``(M + 2) / M``. The interpolation then fades the mask out to 0 at the box's edge instead of
smearing the border values outwards. Box corners are truncated to integer pixels, and the resized
mask covers ``x1 .. x2`` inclusive (``w = x2 - x1 + 1``).

Equals torchvision's ``paste_masks_in_image``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["paste_masks_in_image"]


def _expand_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Scale ``xyxy`` boxes ``(N, 4)`` about their centres by ``scale``."""
    half_w = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    half_h = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    cx = (boxes[:, 2] + boxes[:, 0]) * 0.5
    cy = (boxes[:, 3] + boxes[:, 1]) * 0.5
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)


def _paste_one(mask: torch.Tensor, box: list[int], height: int, width: int) -> torch.Tensor:
    """Resize one ``(M, M)`` mask to its integer ``box`` and write it into a zero
    ``(H, W)`` image."""
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
    resized = F.interpolate(mask[None, None], size=(h, w), mode="bilinear",
                            align_corners=False)[0, 0]
    image = mask.new_zeros((height, width))
    # the part of the box inside the image
    x0, x1_in = max(x1, 0), min(x2 + 1, width)
    y0, y1_in = max(y1, 0), min(y2 + 1, height)
    if x1_in > x0 and y1_in > y0:
        image[y0:y1_in, x0:x1_in] = resized[y0 - y1:y1_in - y1, x0 - x1:x1_in - x1]
    return image


def paste_masks_in_image(masks: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int],
                         padding: int = 1) -> torch.Tensor:
    """Masks ``(N, 1, M, M)`` over ``boxes (N, 4)`` -> image masks ``(N, 1, H, W)``.

    ``image_size`` is ``(H, W)``; ``padding`` zeros are added around each mask (see module doc).
    """
    if masks.ndim != 4 or masks.shape[1] != 1 or masks.shape[-1] != masks.shape[-2]:
        raise ValueError(f"masks must have shape (N, 1, M, M), got {tuple(masks.shape)}")
    if boxes.shape != (len(masks), 4):
        raise ValueError(f"boxes must have shape ({len(masks)}, 4), got {tuple(boxes.shape)}")
    height, width = image_size
    size = masks.shape[-1]
    # pad the grid, enlarge the box alike, truncate the corners to pixels
    scale = (size + 2 * padding) / size
    masks = F.pad(masks, (padding,) * 4)  # (N, 1, M + 2p, M + 2p)
    boxes = _expand_boxes(boxes, scale).to(torch.int64).tolist()
    pasted = [_paste_one(m[0], b, height, width) for m, b in zip(masks, boxes, strict=True)]
    if not pasted:
        return masks.new_zeros((0, 1, height, width))
    return torch.stack(pasted)[:, None]
