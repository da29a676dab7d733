"""The Swin Transformer block: pre-norm (shifted) window attention and MLP, each residual.

Liu et al., ICCV 2021, section 3.1 and Eq. (3)::

    z' = z + W-MSA(LN(z))        (or SW-MSA in every second block)
    z  = z' + MLP(LN(z'))

The MLP is the ViT's (``fc1``, GELU, ``fc2``, ratio 4; :class:`segedu.nn.vit.Mlp`) and each
residual branch may be dropped per sample during training (stochastic depth,
:class:`segedu.nn.vit.DropPath`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..vit.drop_path import DropPath
from ..vit.mlp import Mlp
from .window_attention import WindowAttention

__all__ = ["SwinBlock"]


class SwinBlock(nn.Module):
    """``(B, H, W, C)`` -> ``(B, H, W, C)``.

    Args (keyword-only):
        dim: ``C``.
        num_heads: attention heads.
        window_size: ``(Mh, Mw)``.
        shift_size: ``(0, 0)`` (W-MSA) or ``(Mh // 2, Mw // 2)`` (SW-MSA).
        mlp_ratio: hidden width of the MLP over ``C`` (4).
        drop_path: stochastic depth probability of this block.
    """

    def __init__(self, *, dim: int, num_heads: int, window_size: tuple[int, int],
                 shift_size: tuple[int, int] = (0, 0), mlp_ratio: float = 4.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim=dim, num_heads=num_heads, window_size=window_size,
                                    shift_size=shift_size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))  # mixing between tokens of a window
        return x + self.drop_path(self.mlp(self.norm2(x)))  # mixing between channels, per token
