r"""One layer of CLIP's transformers (Radford et al., "Learning Transferable Visual Models From
Natural Language Supervision", ICML 2021): the pre-norm block that both the image and the text
encoder stack.

::

    x = x + MSA(LN(x), mask)     (norm1, attn)
    x = x + MLP(LN(x))           (norm2, mlp: fc1, QuickGELU, fc2)

It is ViT's block (:class:`segedu.nn.vit.Block`) with two differences that change the numbers,
which is why it is its own class: LayerNorm's ``eps`` is ``1e-5`` (OpenAI's CLIP uses PyTorch's
default; timm's ViT and DINO use ``1e-6``), and the MLP's non-linearity is *QuickGELU*,
:math:`x \, \sigma(1.702 x)` (:class:`segedu.nn.quick_gelu.QuickGELU`), a cheap approximation
of GELU that CLIP was trained with. The text encoder passes a causal ``mask``.
The attention itself is :class:`segedu.nn.vit.Attention` (one ``qkv`` projection: the three
projections of ``transformers``' ``CLIPSegAttention`` stacked, see :mod:`.convert`), the MLP is
SAM's :class:`~segedu.models.foundation.sam.MLPBlock` with QuickGELU.
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.mlp_block import MLPBlock
from ....nn.quick_gelu import QuickGELU
from ....nn.vit import Attention

__all__ = ["CLIPLayer"]


class CLIPLayer(nn.Module):
    """Tokens ``(B, T, D)`` -> ``(B, T, D)``, CLIP's pre-norm transformer layer.

    Args (keyword-only):
        dim: token width ``D``.
        num_heads: attention heads (``D`` a multiple of it).
        mlp_dim: hidden width of the MLP (``4 D`` in CLIP).
        eps: LayerNorm's epsilon (CLIP: ``1e-5``).
    """

    def __init__(self, *, dim: int, num_heads: int, mlp_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim=dim, num_heads=num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=mlp_dim, act=QuickGELU)

    def forward(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask``: ``None`` or bool, broadcastable to ``(B, heads, T, T)``, True where a query
        may read a key."""
        # 1. attention branch on the normalised tokens, added to the residual stream
        x = x + self.attn(self.norm1(x), attention_mask=mask)
        # 2. MLP branch on the normalised tokens, added to the residual stream
        return x + self.mlp(self.norm2(x))
