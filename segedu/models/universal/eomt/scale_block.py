"""EoMT's up-scaling: patch features ``(B, D, h, w)`` -> ``(B, D, 2h, 2w)`` per block.

A ViT's patch tokens sit on a coarse grid (stride 16 for 16-pixel patches). EoMT (Kerssies et al.,
CVPR 2025) enlarges them before the mask dot product with ``log2(patch) - 2`` of these blocks,
to stride 4 as Mask2Former's masks (one block for 8-pixel patches, two for 16):

    transposed conv 2x2, stride 2  ->  GELU  ->  depthwise conv 3x3 (no bias)  ->  LayerNorm2d

the block of SAM's and ViTDet's simple feature pyramid. The LayerNorm over channels is SAM's
:class:`~segedu.models.foundation.sam.LayerNorm2d` (same ``eps = 1e-6``). Names ``conv1``,
``conv2``, ``norm`` follow the authors' ``ScaleBlock`` (tue-mps/eomt); ``transformers`` calls the
block ``EomtScaleLayer`` (``layernorm2d`` for ``norm``).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.layer_norm_2d import LayerNorm2d

__all__ = ["ScaleBlock"]


class ScaleBlock(nn.Module):
    """``(B, D, h, w)`` -> ``(B, D, 2h, 2w)``.

    Args:
        dim: channels ``D`` (the ViT's width; kept).
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(dim, dim, kernel_size=2, stride=2)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=False)
        self.norm = LayerNorm2d(num_channels=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1. twice the resolution: each position becomes a learned 2 x 2 patch
        x = self.act(self.conv1(x))
        # 2. mix each channel with its 3 x 3 neighbours (depthwise), then normalise per pixel
        return self.norm(self.conv2(x))
