r"""Efficient self-attention: keys and values from a grid ``R`` times coarser in each direction.

Self-attention over the ``N = h w`` tokens of a feature map costs :math:`O(N^2)`: at stride 4 of a
512 x 512 image that is 16,384 tokens, 268 million scores per head. SegFormer (Xie et al.,
NeurIPS 2021, Eq. 2; from PVT, Wang et al., ICCV 2021) keeps a query for every token but shrinks
the sequence the queries read: the tokens, back on their grid, go through an ``R x R``
convolution of stride ``R`` and a LayerNorm, which leaves :math:`N / R^2` tokens, and the keys and
values are computed from those::

    x (B, N, C)  -> q = x W_q                                 (B, H, N, d)
                 -> grid (B, C, h, w) -> conv R x R, stride R (B, C, h/R, w/R) -> LayerNorm
                 -> k, v = reduced W_k, reduced W_v           (B, H, N/R^2, d) each
    softmax(q k^T / sqrt(d)) v  -> concat heads -> W_o        (B, N, C)

The paper writes the reduction as a reshape of each ``R x R`` block of tokens into one vector of
``C R^2`` and a linear layer back to ``C``; a convolution of kernel and stride ``R`` is exactly
that linear layer applied to every block. The cost falls to :math:`O(N^2 / R^2)`;
``R = 8, 4, 2, 1`` in stages 1-4, so every stage reads a key grid of the same size
(``H/32 x W/32``). With ``R = 1`` this is plain multi-head self-attention
(:class:`segedu.nn.vit.Attention`). When ``h`` or ``w`` is not a multiple of ``R``, the strided
convolution drops the last rows or columns, as in the references.

Names follow the NVlabs code (``q``, ``kv``: keys and values from one ``Linear (C -> 2C)``, keys
first; ``sr``, ``norm``, ``proj``); ``transformers`` has ``q_proj``, ``k_proj``, ``v_proj``,
``sequence_reduction`` and ``o_proj`` (:mod:`.convert`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EfficientSelfAttention"]


class EfficientSelfAttention(nn.Module):
    """Tokens ``(B, h w, C)`` on an ``h x w`` grid -> tokens ``(B, h w, C)``.

    Args:
        dim: token width ``C`` (a multiple of ``num_heads``).
        num_heads: heads ``H`` of width ``d = C / H``.
        sr_ratio: the reduction ``R`` (1: keys and values from every token).
    """

    def __init__(self, *, dim: int, num_heads: int, sr_ratio: int = 1) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads})")
        self.num_heads, self.head_dim, self.sr_ratio = num_heads, dim // num_heads, sr_ratio
        self.scale = self.head_dim ** -0.5  # 1 / sqrt(d)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, H d)`` -> ``(B, H, T, d)``: the channels split into the heads."""
        b, t, _ = x.shape
        return x.reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def reduce(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Tokens ``(B, h w, C)`` -> ``(B, (h / R) (w / R), C)``: the sequence the keys and values
        are computed from (the tokens themselves when ``R = 1``)."""
        if self.sr_ratio == 1:
            return x
        b, _, c = x.shape
        grid = x.transpose(1, 2).reshape(b, c, *size)  # back on the grid: (B, C, h, w)
        grid = self.sr(grid)  # one token per R x R block: (B, C, h/R, w/R)
        return self.norm(grid.flatten(2).transpose(1, 2))  # (B, h w / R^2, C)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        # 1. a query per token: (B, H, N, d)
        q = self.heads(self.q(x))
        # 2. keys and values from the reduced sequence: (B, H, N / R^2, d) each
        k, v = self.kv(self.reduce(x, size)).chunk(2, dim=-1)
        k, v = self.heads(k), self.heads(v)
        # 3. each query's softmax over the N / R^2 keys, and its weighted mean of the values
        attention = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, H, N, N/R^2)
        out = attention @ v  # (B, H, N, d)
        # 4. heads concatenated and mixed: (B, N, C)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))
