"""One Mix Transformer block: pre-norm efficient self-attention and Mix-FFN, each residual::

    x = x + DropPath(Attention(LN(x)))        (norm1, attn: .efficient_attention)
    x = x + DropPath(MixFFN(LN(x)))           (norm2, mlp:  .mix_ffn)

The layout of ViT's block (:class:`segedu.nn.vit.Block`), with SegFormer's two parts; both need
the tokens' grid ``(h, w)``. Stochastic depth (:class:`segedu.nn.vit.DropPath`) acts in training
only.

LayerNorm: ``eps = 1e-5`` (PyTorch's default), as ``transformers``' ``SegformerLayer``, whose
weights segedu is proven equal to; the NVlabs code builds its blocks with ``eps = 1e-6``, a
difference far below float32's other rounding for activations of unit scale.
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.vit import DropPath
from .efficient_attention import EfficientSelfAttention
from .mix_ffn import MixFFN

__all__ = ["MixTransformerBlock"]


class MixTransformerBlock(nn.Module):
    """Tokens ``(B, h w, C)`` on an ``h x w`` grid -> ``(B, h w, C)``.

    Args:
        dim: token width ``C``.
        num_heads: attention heads.
        sr_ratio: the attention's sequence reduction ``R``.
        mlp_ratio: Mix-FFN hidden width as a multiple of ``C``.
        drop_path: stochastic-depth probability of both branches.
    """

    def __init__(self, *, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: int = 4,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EfficientSelfAttention(dim=dim, num_heads=num_heads, sr_ratio=sr_ratio)
        self.drop_path = DropPath(p=drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MixFFN(dim=dim, hidden_dim=dim * mlp_ratio)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        # 1. attention branch on the normalised tokens, added to the residual stream
        x = x + self.drop_path(self.attn(self.norm1(x), size))
        # 2. Mix-FFN branch on the normalised tokens, added to the residual stream
        return x + self.drop_path(self.mlp(self.norm2(x), size))
