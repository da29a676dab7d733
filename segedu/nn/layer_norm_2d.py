"""Layer normalisation over the channels of a ``(B, C, H, W)`` feature map (ConvNeXt's "channels
first" LayerNorm).

SAM uses it in its image encoder's neck, its mask downscaler and its decoder's upscaler (Kirillov
et al., ICCV 2023); SAM 2's memory encoder and EoMT's scale blocks use the same. Attribute names
(``weight``, ``bias``) are those of segment-anything's ``modeling/common.py``, so the official
checkpoints load directly. It is written out (mean, variance, normalise) in the order of
segment-anything's code, which makes the two agree to the last bit.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.Module):
    """Normalise each pixel's channel vector of ``(B, C, H, W)`` to zero mean and unit variance,
    then scale and shift per channel (``weight``, ``bias`` of shape ``(C,)``)."""

    def __init__(self, *, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W)`` -> ``(B, C, H, W)``."""
        # statistics over the channel axis only (a LayerNorm per pixel)
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        # learned per-channel affine transform
        return self.weight[:, None, None] * x + self.bias[:, None, None]
