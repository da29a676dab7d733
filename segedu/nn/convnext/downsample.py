"""ConvNeXt's downsampling layers: the "patchify" stem and the 2 x 2 strided convolutions
between stages.

Liu et al., CVPR 2022, sections 2.2 and 2.6. The ResNet stem (7 x 7 convolution with stride 2,
max pooling) becomes a 4 x 4 convolution with stride 4, non-overlapping like the ViT's and Swin's
patches, followed by a LayerNorm. Between stages, ResNet downsampled inside the first block of
each stage; ConvNeXt uses a separate layer, a LayerNorm then a 2 x 2 convolution with stride 2,
as Swin's patch merging (the paper found the norm there necessary for stable training).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layer_norm_2d import LayerNorm2d

__all__ = ["PatchifyStem", "Downsample"]


class PatchifyStem(nn.Module):
    """``(B, 3, H, W)`` -> ``(B, C, H // p, W // p)``: convolution ``p x p`` stride ``p``, then
    LayerNorm.

    Args (keyword-only):
        in_chans: image channels (3).
        out_channels: ``C`` (96 for ConvNeXt-T).
        patch_size: ``p`` (4).
    """

    def __init__(self, *, in_chans: int = 3, out_channels: int, patch_size: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_channels, kernel_size=patch_size, stride=patch_size)
        self.norm = LayerNorm2d(num_channels=out_channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class Downsample(nn.Module):
    """``(B, C_in, H, W)`` -> ``(B, C_out, H // 2, W // 2)``: LayerNorm, then a 2 x 2 convolution
    with stride 2 (an odd side loses its last row or column).

    Args (keyword-only):
        in_channels: ``C_in``.
        out_channels: ``C_out`` (``2 C_in`` in the paper).
    """

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(num_channels=in_channels, eps=1e-6)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))
