"""Resize an image so that its longest side is SAM's input size, and move prompts with it.

SAM's encoder takes a square ``img_size x img_size`` input (1024). An image of any size is
resized, keeping its aspect ratio, until its *long* side is ``img_size`` (the short side is
rounded to the nearest integer), then zero-padded at the bottom and right
(:meth:`~.sam.Sam.preprocess`). Point and box prompts are given in the original image's pixels
and scaled by the same factors along x and y.

Same results as segment-anything's ``ResizeLongestSide`` (tested): ``apply_image`` resizes a
``uint8 (H, W, C)`` array with PIL's bilinear filter (what torchvision's ``resize`` does on a PIL
image, and what the official models were trained with); ``apply_image_torch`` is the
differentiable float variant (bilinear with antialiasing), which may differ from it by a few
grey levels. One difference: segment-anything's ``apply_image_torch`` computes the target size
from ``image.shape[0], image.shape[1]`` (batch and channels, a known bug); here it is computed
from the height and width ``image.shape[2:]``, as its docstring intends.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["ResizeLongestSide"]


class ResizeLongestSide:
    """Resize images to long side ``target_length`` and transform coordinates and boxes alike."""

    def __init__(self, target_length: int) -> None:
        self.target_length = target_length

    @staticmethod
    def get_preprocess_shape(old_h: int, old_w: int, long_side_length: int) -> tuple[int, int]:
        """``(new_h, new_w)``: the long side becomes ``long_side_length``, the other is rounded."""
        scale = long_side_length * 1.0 / max(old_h, old_w)
        return int(old_h * scale + 0.5), int(old_w * scale + 0.5)

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """``uint8 (H, W, C)`` -> ``uint8 (h, w, C)`` with ``max(h, w) == target_length``
        (PIL bilinear)."""
        new_h, new_w = self.get_preprocess_shape(image.shape[0], image.shape[1], self.target_length)
        return np.array(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, ...]) -> np.ndarray:
        """Points ``(..., 2)`` ``(x, y)`` in an image of ``original_size = (H, W)`` -> float64
        points in the resized image."""
        old_h, old_w = original_size
        new_h, new_w = self.get_preprocess_shape(old_h, old_w, self.target_length)
        coords = np.array(coords, dtype=float)  # a float copy
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    def apply_boxes(self, boxes: np.ndarray, original_size: tuple[int, ...]) -> np.ndarray:
        """Boxes ``(B, 4)`` ``xyxy`` -> ``(B, 4)`` in the resized image (both corners scaled)."""
        return self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size).reshape(-1, 4)

    def apply_image_torch(self, image: torch.Tensor) -> torch.Tensor:
        """Float ``(B, C, H, W)`` -> ``(B, C, h, w)`` (bilinear, antialiased; may differ slightly
        from :meth:`apply_image`)."""
        target_size = self.get_preprocess_shape(image.shape[2], image.shape[3], self.target_length)
        return F.interpolate(
            image, target_size, mode="bilinear", align_corners=False, antialias=True
        )

    def apply_coords_torch(
        self, coords: torch.Tensor, original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """As :meth:`apply_coords`, for a tensor (float32 result)."""
        old_h, old_w = original_size
        new_h, new_w = self.get_preprocess_shape(old_h, old_w, self.target_length)
        coords = coords.to(torch.float).clone()
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    def apply_boxes_torch(
        self, boxes: torch.Tensor, original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """As :meth:`apply_boxes`, for a tensor ``(B, 4)``."""
        return self.apply_coords_torch(boxes.reshape(-1, 2, 2), original_size).reshape(-1, 4)
