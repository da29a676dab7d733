"""Overlapping patch embedding: a strided convolution whose kernel is larger than its stride.

ViT cuts the image into non-overlapping ``p x p`` patches (kernel = stride = ``p``,
:class:`segedu.nn.vit.PatchEmbed`), so a patch knows nothing of its neighbours' pixels. SegFormer
(Xie et al., NeurIPS 2021, Sec. 3.1) lets the patches overlap: kernel ``K``, stride ``S < K`` and
padding ``K // 2`` (``K = 7, S = 4`` before the first stage, ``K = 3, S = 2`` before the others),
which keeps the local continuity around patch borders. Each stage starts with one, so the feature
maps have strides 4, 8, 16 and 32, as a ResNet's. The tokens are then layer-normalised.

Any image size works: the grid is ``floor((H + 2 (K // 2) - K) / S) + 1`` rows (the convolution
arithmetic of :func:`segedu.nn.conv_output_size`), no need for a multiple of the stride.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["OverlapPatchEmbed"]


class OverlapPatchEmbed(nn.Module):
    """Feature map ``(B, C_in, H, W)`` -> tokens ``(B, h w, C)`` and their grid ``(h, w)``.

    Args:
        patch_size: the kernel ``K`` (padding ``K // 2``).
        stride: the stride ``S`` (``h = floor((H + 2 (K // 2) - K) / S) + 1``).
        in_channels: ``C_in``.
        dim: the token width ``C``.
    """

    def __init__(self, *, patch_size: int, stride: int, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=stride,
                              padding=patch_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        # 1. overlapping patches -> one C-vector each: (B, C, h, w)
        x = self.proj(x)
        h, w = x.shape[-2:]
        # 2. the grid becomes a sequence, row by row, and each token is normalised: (B, h w, C)
        return self.norm(x.flatten(2).transpose(1, 2)), (h, w)
