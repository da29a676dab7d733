r"""Mask assembly: each detection's mask is a linear combination of the prototypes, cropped to
its box.

With the prototypes :math:`P` of an image as an ``(h, w, k)`` array and the ``n`` detections'
coefficients as an ``(n, k)`` matrix :math:`C`, YOLACT's masks are one matrix product and a sigmoid:

.. math:: M = \sigma\!\left(P\, C^\top\right) \in [0, 1]^{h \times w \times n}.

That is the whole "instance" part of the method: no RoI pooling, no per-instance convolution, so it
costs almost nothing. A linear combination of image-wide prototypes can light up pixels far from
the object, so the mask is then **cropped** to a box: set to zero outside it (the predicted box at
inference, the ground-truth box in the loss).

A pixel ``(i, j)`` covers ``[j, j + 1] x [i, i + 1]`` in the box's coordinates; it lies in the box
``(x1, y1, x2, y2)`` when its centre does: ``x1 <= j + 0.5 <= x2`` and ``y1 <= i + 0.5 <= y2``.
"""

from __future__ import annotations

import torch

__all__ = ["mask_logits", "assemble_masks", "box_crop_masks", "crop_masks"]


def mask_logits(prototypes: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """The linear combination ``P C^T`` before the sigmoid.

    Args:
        prototypes: ``(k, h, w)``, one image's prototypes.
        coefficients: ``(n, k)``, one row per detection.

    Returns:
        ``(n, h, w)``: ``out[d] = sum_j coefficients[d, j] * prototypes[j]``.
    """
    if prototypes.ndim != 3:
        raise ValueError(f"prototypes must be (k, h, w), got shape {tuple(prototypes.shape)}")
    if coefficients.ndim != 2 or coefficients.shape[1] != prototypes.shape[0]:
        raise ValueError(f"coefficients must be (n, k={prototypes.shape[0]}), got shape "
                         f"{tuple(coefficients.shape)}")
    k, h, w = prototypes.shape
    # (n, k) @ (k, h * w) -> (n, h * w)
    return (coefficients @ prototypes.reshape(k, h * w)).reshape(-1, h, w)


def assemble_masks(prototypes: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """``sigmoid(P C^T)``: ``(k, h, w)`` and ``(n, k)`` -> mask probabilities ``(n, h, w)``."""
    return torch.sigmoid(mask_logits(prototypes, coefficients))


def box_crop_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boolean ``(n, height, width)``: True at the pixels whose centre lies in the box.

    Args:
        boxes: ``(n, 4)`` ``xyxy`` boxes, in the pixel units of the ``height x width`` grid.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (n, 4) xyxy, got shape {tuple(boxes.shape)}")
    centres_x = torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5  # (w,)
    centres_y = torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5  # (h,)
    x1, y1, x2, y2 = (boxes[:, i, None] for i in range(4))  # each (n, 1)
    inside_x = (centres_x >= x1) & (centres_x <= x2)  # (n, w)
    inside_y = (centres_y >= y1) & (centres_y <= y2)  # (n, h)
    return inside_y[:, :, None] & inside_x[:, None, :]  # (n, h, w)


def crop_masks(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero ``masks (n, h, w)`` outside ``boxes (n, 4)`` (``xyxy`` in the masks' pixel units)."""
    if masks.ndim != 3:
        raise ValueError(f"masks must be (n, h, w), got shape {tuple(masks.shape)}")
    if len(boxes) != len(masks):
        raise ValueError(f"need one box per mask, got {len(boxes)} boxes for {len(masks)} masks")
    return masks * box_crop_masks(boxes, *masks.shape[-2:]).to(masks.dtype)
