r"""Pooling a region from the right FPN level (Lin et al., CVPR 2017, eq. 1).

A region of interest of ``w x h`` image pixels is pooled from the pyramid level

.. math:: k = \left\lfloor k_0 + \log_2\!\big(\sqrt{w h} / 224\big) \right\rfloor,
          \qquad k_0 = 4, \text{ clamped to the available levels (2..5)},

so that a 224 x 224 region (an ImageNet image) comes from ``P4``; a region half as large from
``P3``, twice as large from ``P5``. Each level's regions are pooled with RoIAlign (bilinear
samples, ``sampling_ratio`` per bin side, Mask R-CNN) or RoIPool (max over quantised bins,
Fast R-CNN) at that level's scale ``1 / stride``; the results are put back in the regions' order.

The level's stride is inferred from the feature map and the largest image size (rounded to a
power of two). With ``kind="align"`` this equals torchvision's ``MultiScaleRoIAlign``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ....ops import box_area, roi_align, roi_pool

__all__ = ["MultiScaleRoIAlign", "map_levels"]


def map_levels(boxes: list[torch.Tensor], *, k_min: int, k_max: int, canonical_scale: int = 224,
               canonical_level: int = 4, eps: float = 1e-6) -> torch.Tensor:
    """The FPN level (counted from ``k_min``: 0 is the finest) of every box, int64 ``(K,)``."""
    size = torch.sqrt(torch.cat([box_area(b) for b in boxes]))  # sqrt(w h) per box
    level = torch.floor(canonical_level + torch.log2(size / canonical_scale)
                        + torch.tensor(eps, dtype=size.dtype))
    return (level.clamp(min=k_min, max=k_max).to(torch.int64) - k_min).to(torch.int64)


class MultiScaleRoIAlign(nn.Module):
    """Pool every region from its level: features ``{name: (N, C, H_l, W_l)}``, boxes (one
    ``(K_i, 4)`` per image, image pixels) -> ``(sum_i K_i, C, output_size, output_size)``.

    Args (keyword-only):
        featmap_names: the feature maps to pool from, finest first (``["0", "1", "2", "3"]``).
        output_size: the side of the pooled grid (7 for boxes, 14 for masks).
        sampling_ratio: RoIAlign's samples per bin side (2).
        kind: ``"align"`` (RoIAlign) or ``"pool"`` (RoIPool, quantised as in Fast R-CNN).
    """

    def __init__(self, *, featmap_names: list[str], output_size: int, sampling_ratio: int = 2,
                 kind: str = "align", canonical_scale: int = 224, canonical_level: int = 4) -> None:
        super().__init__()
        if kind not in ("align", "pool"):
            raise ValueError(f"kind must be 'align' or 'pool', got {kind!r}")
        self.featmap_names = list(featmap_names)
        self.output_size = (output_size, output_size)
        self.sampling_ratio = sampling_ratio
        self.kind = kind
        self.canonical_scale, self.canonical_level = canonical_scale, canonical_level

    def _pool(self, feature: torch.Tensor, rois: torch.Tensor, scale: float) -> torch.Tensor:
        # under autocast the features are half precision and the boxes float32: pool in float32
        # (as torchvision's autocast wrapper of its kernels does) and give the features' dtype back
        x, r = feature.float(), rois.float()
        if self.kind == "align":
            return roi_align(x, r, self.output_size, scale, self.sampling_ratio).to(feature.dtype)
        return roi_pool(x, r, self.output_size, scale).to(feature.dtype)

    @staticmethod
    def _scale(feature: torch.Tensor, image_size: tuple[int, int]) -> float:
        """``1 / stride`` of a level: its height over the image height, rounded to a power of 2."""
        return 2.0 ** round(math.log2(feature.shape[-2] / image_size[0]))

    def forward(self, features: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_sizes: list[tuple[int, int]]) -> torch.Tensor:
        maps = [features[name] for name in self.featmap_names]
        # the largest image's height and width give the strides
        largest = (max(s[0] for s in image_sizes), max(s[1] for s in image_sizes))
        scales = [self._scale(f, largest) for f in maps]
        # (K, 5) regions [image index, x1, y1, x2, y2]
        rois = torch.cat([torch.cat([b.new_full((len(b), 1), i), b], dim=1)
                          for i, b in enumerate(boxes)])
        if len(maps) == 1:
            return self._pool(maps[0], rois, scales[0])
        # 1. each region's level (FPN eq. 1)
        k_min, k_max = int(-math.log2(scales[0])), int(-math.log2(scales[-1]))
        levels = map_levels(boxes, k_min=k_min, k_max=k_max, canonical_scale=self.canonical_scale,
                            canonical_level=self.canonical_level)
        # 2. pool each level's regions at its scale, in place in the output
        pooled = maps[0].new_zeros((len(rois), maps[0].shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(maps, scales, strict=True)):
            in_level = torch.where(levels == level)[0]
            pooled[in_level] = self._pool(feature, rois[in_level], scale).to(pooled.dtype)
        return pooled
