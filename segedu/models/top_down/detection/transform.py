"""The R-CNN input and output transform: normalise, resize, batch; and back to the input size.

Before the network:

1. **normalise** each image ``(3, H, W)`` in [0, 1] with the ImageNet mean and standard deviation
   (the backbone was pretrained on such inputs);
2. **resize** it so that its short side is ``min_size`` unless its long side would then exceed
   ``max_size`` (then the long side is ``max_size``): one scale factor
   ``min(min_size / short, max_size / long)`` for both axes, bilinear for the image, nearest for
   the ground-truth masks, and the boxes multiplied by the per-axis size ratios. In training
   ``min_size`` may be a tuple, one of which is drawn per image (multi-scale training). SSD
   gives a ``fixed_size`` instead: every image is stretched to it, whatever its aspect ratio;
3. **batch** the images into one zero-padded tensor ``(N, 3, H_max, W_max)`` whose sides are
   multiples of ``size_divisible`` (32: the coarsest FPN stride), remembering each image's size.

After the network, :meth:`GeneralizedRCNNTransform.postprocess` scales the boxes back to the input
size and pastes the masks into it. All of this equals torchvision's ``GeneralizedRCNNTransform``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from .paste_masks import paste_masks_in_image

__all__ = ["ImageList", "GeneralizedRCNNTransform", "resize_boxes", "resize_target"]


@dataclass
class ImageList:
    """A padded batch ``tensors (N, C, H, W)`` and each image's own ``(h, w)`` inside it."""

    tensors: torch.Tensor
    image_sizes: list[tuple[int, int]]


def resize_boxes(boxes: torch.Tensor, original_size: Sequence[int],
                 new_size: Sequence[int]) -> torch.Tensor:
    """Scale ``xyxy`` boxes ``(N, 4)`` from an image of ``original_size (h, w)`` to ``new_size``."""
    ratio_h, ratio_w = (torch.tensor(new, dtype=torch.float32, device=boxes.device)
                        / torch.tensor(old, dtype=torch.float32, device=boxes.device)
                        for new, old in zip(new_size, original_size, strict=True))
    x1, y1, x2, y2 = boxes.unbind(1)
    return torch.stack([x1 * ratio_w, y1 * ratio_h, x2 * ratio_w, y2 * ratio_h], dim=1)


def resize_target(target: dict[str, torch.Tensor], original_size: Sequence[int],
                  new_size: Sequence[int]) -> dict[str, torch.Tensor]:
    """A copy of a detection target whose ``boxes`` (and ``masks`` ``(N, H, W)`` uint8, if any)
    follow its image from ``original_size (h, w)`` to ``new_size``."""
    target = dict(target)
    if "masks" in target:  # nearest neighbour keeps the masks binary
        masks = target["masks"][:, None].float()
        target["masks"] = F.interpolate(masks, size=tuple(new_size))[:, 0].byte()
    target["boxes"] = resize_boxes(target["boxes"], original_size, new_size)
    return target


class GeneralizedRCNNTransform(nn.Module):
    """Normalise, resize and batch images (and their targets); undo the resize on the outputs.

    Args (keyword-only):
        min_size: the short side after resizing; a tuple draws one per image in training (and
            uses the last in evaluation).
        max_size: the largest long side after resizing.
        image_mean, image_std: per-channel normalisation.
        size_divisible: the batch's sides are rounded up to a multiple of it.
        fixed_size: ``(height, width)`` every image is resized to (SSD's 300 x 300), or
            ``None`` to keep the aspect ratio (``min_size`` and ``max_size``).
    """

    def __init__(self, *, min_size: int | Sequence[int], max_size: int,
                 image_mean: Sequence[float] = IMAGENET_MEAN,
                 image_std: Sequence[float] = IMAGENET_STD, size_divisible: int = 32,
                 fixed_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.min_size = (min_size,) if isinstance(min_size, int) else tuple(min_size)
        if not self.min_size or min(self.min_size) < 1 or max_size < 1:
            raise ValueError(f"min_size and max_size must be positive, got {min_size!r} and "
                             f"{max_size!r}")
        self.max_size = max_size
        self.image_mean, self.image_std = tuple(image_mean), tuple(image_std)
        self.size_divisible = size_divisible
        if fixed_size is not None and (len(fixed_size) != 2 or min(fixed_size) < 1):
            raise ValueError(f"fixed_size must be a positive (height, width), got {fixed_size!r}")
        self.fixed_size = None if fixed_size is None else tuple(fixed_size)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``(C, H, W)`` -> ``(image - mean) / std`` per channel."""
        mean = torch.as_tensor(self.image_mean, dtype=image.dtype, device=image.device)
        std = torch.as_tensor(self.image_std, dtype=image.dtype, device=image.device)
        return (image - mean[:, None, None]) / std[:, None, None]

    def _short_side(self) -> int:
        if not self.training:
            return self.min_size[-1]
        # one random choice per image, drawn from torch's generator as torchvision does
        index = int(torch.empty(1).uniform_(0.0, float(len(self.min_size))).item())
        return self.min_size[index]

    def resize(self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """Resize one image ``(C, H, W)`` (and its target's boxes and masks) by one scale factor."""
        h, w = image.shape[-2:]
        short_side = self._short_side()  # drawn in training even for a fixed size, as torchvision
        if self.fixed_size is not None:  # stretched to the fixed size (SSD)
            image = F.interpolate(image[None], size=self.fixed_size, mode="bilinear",
                                  align_corners=False)[0]
        else:
            scale = min(short_side / min(h, w), self.max_size / max(h, w))
            # the output size is floor(scale * side); the interpolation then uses that size's
            # own scale
            image = F.interpolate(image[None], scale_factor=scale, mode="bilinear",
                                  recompute_scale_factor=True, align_corners=False)[0]
        if target is None:
            return image, None
        return image, resize_target(target, (h, w), image.shape[-2:])

    def batch_images(self, images: list[torch.Tensor]) -> torch.Tensor:
        """Zero-pad images ``(C, h_i, w_i)`` into one ``(N, C, H, W)``, ``H`` and ``W`` multiples of
        ``size_divisible``, each image in the top-left corner."""
        channels = images[0].shape[0]
        height = max(img.shape[1] for img in images)
        width = max(img.shape[2] for img in images)
        stride = float(self.size_divisible)
        height = int(math.ceil(height / stride) * stride)
        width = int(math.ceil(width / stride) * stride)
        batch = images[0].new_zeros((len(images), channels, height, width))
        for padded, img in zip(batch, images, strict=True):
            padded[:, :img.shape[1], :img.shape[2]].copy_(img)
        return batch

    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None
                ) -> tuple[ImageList, list[dict[str, torch.Tensor]] | None]:
        processed, new_targets = [], [] if targets is not None else None
        for i, image in enumerate(images):
            image = self.normalize(image)
            image, target = self.resize(image, targets[i] if targets is not None else None)
            processed.append(image)
            if new_targets is not None:
                new_targets.append(target)
        sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in processed]
        return ImageList(self.batch_images(processed), sizes), new_targets

    def postprocess(self, results: list[dict[str, torch.Tensor]],
                    image_sizes: list[tuple[int, int]],
                    original_sizes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        """Boxes back to each input image's size; masks ``(N, 1, 28, 28)`` pasted into it."""
        for result, size, original in zip(results, image_sizes, original_sizes, strict=True):
            result["boxes"] = resize_boxes(result["boxes"], size, original)
            if "masks" in result:
                result["masks"] = paste_masks_in_image(result["masks"], result["boxes"], original)
        return results
