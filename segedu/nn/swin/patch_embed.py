"""Swin's patch embedding: non-overlapping 4 x 4 patches -> a grid of tokens.

Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", ICCV 2021,
section 3.1: the image is split into 4 x 4 patches, each linearly projected to ``C`` channels
(a convolution with kernel = stride = 4) and layer-normalised. Unlike the ViT's
(:class:`segedu.nn.vit.PatchEmbed`), the tokens keep their 2-D grid ``(B, C, H/4, W/4)``: the
windows of the next layers are cut from it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SwinPatchEmbed"]


class SwinPatchEmbed(nn.Module):
    """``(B, 3, H, W)`` -> ``(B, C, H // p, W // p)`` (a side not divisible by ``p`` loses its
    last ``side % p`` pixels, as a strided convolution does).

    Args (keyword-only):
        in_chans: image channels (3).
        embed_dim: ``C``, the channels of each token (96 for Swin-T).
        patch_size: ``p`` (4).
    """

    def __init__(self, *, in_chans: int = 3, embed_dim: int = 96, patch_size: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, C, H/p, W/p): one linear projection per patch
        x = self.norm(x.permute(0, 2, 3, 1))  # (B, H/p, W/p, C): normalise each token
        return x.permute(0, 3, 1, 2)  # (B, C, H/p, W/p): channels first between modules
