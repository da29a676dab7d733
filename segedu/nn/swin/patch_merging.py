"""Swin's patch merging: halve the grid, double the channels (the downsampling between stages).

Liu et al., ICCV 2021, section 3.1: "the first patch merging layer concatenates the features of
each group of 2 x 2 neighboring patches, and applies a linear layer on the 4C-dimensional
concatenated features", reducing them to 2C. This is what gives Swin a pyramid of feature maps
at strides 4, 8, 16 and 32, like a ResNet's, where the ViT keeps one resolution. An odd side is
padded with a zero row or column first (torchvision's ``_patch_merging_pad``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchMerging"]


class PatchMerging(nn.Module):
    """``(B, H, W, C)`` -> ``(B, ceil(H/2), ceil(W/2), 2C)``.

    Args (keyword-only):
        dim: ``C``, the channels coming in.
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))  # even sides: (B, H', W', C)
        # the four pixels of each 2 x 2 group, in the paper's code's order
        top_left, bottom_left = x[:, 0::2, 0::2], x[:, 1::2, 0::2]
        top_right, bottom_right = x[:, 0::2, 1::2], x[:, 1::2, 1::2]
        x = torch.cat([top_left, bottom_left, top_right, bottom_right], -1)  # (B, H'/2, W'/2, 4C)
        return self.reduction(self.norm(x))  # (B, H'/2, W'/2, 2C)
