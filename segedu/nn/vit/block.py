"""The pre-norm transformer block of ViT (Dosovitskiy et al., ICLR 2021, Eqs. 2-3)::

    x = x + MSA(LN(x))        (norm1, attn)
    x = x + MLP(LN(x))        (norm2, mlp)

Layer normalisation comes *before* each branch ("pre-norm"), so the residual stream itself is never
normalised; the final ``norm`` of the :class:`~segedu.nn.vit.vision_transformer.VisionTransformer`
normalises it once at the end. LayerNorm uses ``eps=1e-6`` as timm's ViT and DINO. Names are
timm's and DINO's (``norm1``, ``attn``, ``norm2``, ``mlp``); timm's optional LayerScale (unused by
DINO) is left out.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention
from .drop_path import DropPath
from .mlp import Mlp

__all__ = ["Block"]


class Block(nn.Module):
    """Tokens ``(B, T, D)`` -> ``(B, T, D)``; optionally also the attention map ``(B, H, T, T)``.

    Args:
        dim: token dimension ``D``.
        num_heads: number of attention heads.
        mlp_ratio: hidden size of the MLP, as a multiple of ``D`` (4 in ViT).
        qkv_bias: bias of the query/key/value projection.
        drop_path: stochastic-depth probability of both residual branches.
    """

    def __init__(
        self, *, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
        drop_path: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim=dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(p=drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))

    def forward(
        self, x: torch.Tensor, *, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # 1. attention branch on the normalised tokens, added to the residual stream
        y, attention = self.attn(self.norm1(x), return_attention=True)
        x = x + self.drop_path(y)
        # 2. MLP branch on the normalised tokens, added to the residual stream
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return (x, attention) if return_attention else x
