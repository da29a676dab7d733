"""The post-norm transformer layers of DETR-style decoders: self-attention, cross-attention and
the feed-forward network, each followed by a residual connection and a LayerNorm.

Mask2Former's decoder (Cheng et al., CVPR 2022; facebookresearch/Mask2Former's
``SelfAttentionLayer``, ``CrossAttentionLayer`` and ``FFNLayer`` with ``PRE_NORM False`` and
dropout 0), DETR's encoder and decoder (Carion et al., ECCV 2020) and CLIPSeg's decoder are built
from them; their parameter names (``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``,
``norm``) are the original's, so its checkpoints load unchanged. :class:`DetrDecoderLayer` is the
three in DETR's order, the decoder layer of DETR and of OneFormer's query initialisation. Tensors
are batch-first, ``(B, Q, C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SelfAttentionLayer", "CrossAttentionLayer", "FFNLayer", "DetrDecoderLayer"]


def _xavier_matrices(module: nn.Module) -> None:
    """The original's initialisation of the decoder layers: Xavier-uniform for every matrix."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


class SelfAttentionLayer(nn.Module):
    """Queries attend to each other: ``x = LayerNorm(x + MHA(x + pos, x + pos, x))``,
    ``(B, Q, C)``; without ``query_pos`` (CLIPSeg's decoder), ``LayerNorm(x + MHA(x, x, x))``."""

    def __init__(self, *, dim: int, num_heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        _xavier_matrices(self)

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor | None) -> torch.Tensor:
        # positions steer who attends to whom; the values are the features
        q = k = x if query_pos is None else x + query_pos
        return self.norm(x + self.self_attn(q, k, value=x, need_weights=False)[0])


class CrossAttentionLayer(nn.Module):
    """Queries attend to image features, within their masks:
    ``x = LayerNorm(x + MHA(x + query_pos, memory + pos, memory, attn_mask))``.

    ``x (B, Q, C)``, ``memory, pos (B, hw, C)``, ``attn_mask (B * heads, Q, hw)`` boolean (``True``:
    may not attend) -> ``(B, Q, C)``.
    """

    def __init__(self, *, dim: int, num_heads: int) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        _xavier_matrices(self)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, *, attn_mask: torch.Tensor | None,
                pos: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        out = self.multihead_attn(x + query_pos, memory + pos, value=memory, attn_mask=attn_mask,
                                  need_weights=False)[0]
        return self.norm(x + out)


class FFNLayer(nn.Module):
    """``x = LayerNorm(x + Linear(ReLU(Linear(x))))``, ``(B, Q, C) -> (B, Q, C)``."""

    def __init__(self, *, dim: int, ffn_dim: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm = nn.LayerNorm(dim)
        _xavier_matrices(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.linear2(F.relu(self.linear1(x))))


class DetrDecoderLayer(nn.Module):
    """DETR's post-norm decoder layer (Carion et al., ECCV 2020): queries attend to queries, then
    to ``memory``, then a feed-forward network: ``queries (B, Q, C), memory (B, HW, C) ->
    (B, Q, C)``.

    ``query_pos (B, Q, C)`` is added to the queries' queries and keys (self-attention) and to
    their queries (cross-attention); ``pos (B, HW, C)`` to the memory's keys (cross-attention).
    """

    def __init__(self, *, dim: int, num_heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attention = SelfAttentionLayer(dim=dim, num_heads=num_heads)
        self.cross_attention = CrossAttentionLayer(dim=dim, num_heads=num_heads)
        self.ffn = FFNLayer(dim=dim, ffn_dim=ffn_dim)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor, *, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        queries = self.self_attention(queries, query_pos)
        queries = self.cross_attention(queries, memory, attn_mask=None, pos=pos,
                                       query_pos=query_pos)
        return self.ffn(queries)
