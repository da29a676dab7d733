"""Small building blocks shared by SAM's image encoder, prompt encoder and mask decoder.

- :class:`LayerNorm2d`: layer normalisation over the channels of a ``(B, C, H, W)`` feature map
  (ConvNeXt's "channels first" LayerNorm), used in the encoder's neck, the mask downscaler and
  the decoder's upscaler;
- :class:`MLPBlock`: the two-layer MLP of a transformer block (``lin1``, activation, ``lin2``).

The decoder's hypernetworks and IoU head are :class:`segedu.nn.mlp.MLP` (from MaskFormer).
Attribute names (``lin1``, ``lin2``, ``weight``, ``bias``) are those of
segment-anything's ``modeling/common.py`` and ``mask_decoder.py`` so that the official
checkpoints load directly. LayerNorm2d is written out (mean, variance, normalise) in the order
of segment-anything's code, which makes the two agree to the last bit.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm2d", "MLPBlock"]


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


class MLPBlock(nn.Module):
    """``lin2(act(lin1(x)))``: ``(..., embedding_dim)`` -> ``(..., embedding_dim)``."""

    def __init__(self, *, embedding_dim: int, mlp_dim: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))
