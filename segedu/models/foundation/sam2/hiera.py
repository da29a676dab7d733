"""Hiera, SAM 2's image encoder trunk (Ryali et al., "Hiera: A Hierarchical Vision Transformer
without the Bells-and-Whistles", ICML 2023; Ravi et al., "SAM 2", 2024, section 4).

SAM's ViT keeps one 64 x 64 token grid through all its blocks. Hiera is *hierarchical*, like a
CNN: four stages, each at half the resolution and twice the width of the one before, so it gives
the multi-scale features that SAM 2's decoder and memory need, and is faster::

    image (B, 3, H, W)
      -> patch embedding: 7 x 7 conv, stride 4            (B, H/4, W/4, C)      + position code
      -> stage 1: blocks at stride 4                      (B, H/4, W/4, C)       -> feature 1
      -> stage 2: first block max-pools the queries 2x2   (B, H/8, W/8, 2C)      -> feature 2
      -> stage 3                                          (B, H/16, W/16, 4C)    -> feature 3
      -> stage 4                                          (B, H/32, W/32, 8C)    -> feature 4

A block is a pre-norm transformer block (LayerNorm, attention, residual; LayerNorm, MLP,
residual). Its attention is *windowed* (tokens attend only inside square windows, as in SAM's
ViT) except in a few *global* blocks. At a stage change the first block pools its queries with a
2 x 2 max-pool (*query pooling*): the output has a quarter of the tokens, and the residual path is
projected to the new width and pooled the same way.

The position code is a *windowed* absolute embedding (Bolya et al., "Window Attention is
Bugged", 2023): a small background embedding, bicubically interpolated to the token grid, plus a
window-sized embedding tiled over it.

Parameter names follow facebookresearch/sam2's ``backbones/hieradet.py`` (``patch_embed.proj``,
``pos_embed``, ``pos_embed_window``, ``blocks.{i}.norm1 / attn.qkv / attn.proj / norm2 / mlp /
proj``; the MLP is :class:`segedu.nn.vit.Mlp`, ``fc1`` and ``fc2``); results are those of
``transformers``' ``Sam2HieraDetModel`` (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

import torch
import torch.nn.functional as F
from torch import nn

from ....nn.vit import Mlp
from ..sam.windows import window_partition, window_unpartition

__all__ = ["MultiScaleAttention", "MultiScaleBlock", "Hiera"]


def _max_pool(x: torch.Tensor, stride: int | None) -> torch.Tensor:
    """2-D max-pool of channels-last tokens ``(B, H, W, C)`` -> ``(B, H/s, W/s, C)``."""
    if stride is None:
        return x
    x = F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=stride, stride=stride)
    return x.permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention on a token grid, optionally pooling the queries:
    ``(B, H, W, dim)`` -> ``(B, H/s, W/s, dim_out)`` (``s = q_stride``, or 1).

    Args (keyword-only):
        dim, dim_out: input and output widths (they differ at a stage change).
        num_heads: attention heads (each of width ``dim_out / num_heads``).
        q_stride: the query pooling stride (2 at a stage change), or ``None``.
    """

    def __init__(self, *, dim: int, dim_out: int, num_heads: int,
                 q_stride: int | None = None) -> None:
        super().__init__()
        if dim_out % num_heads:
            raise ValueError(f"dim_out {dim_out} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        # queries, keys, values: (B, H * W, heads, head_dim) each
        q, k, v = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).unbind(2)
        # query pooling: fewer queries, so fewer output tokens (keys and values keep all)
        if self.q_stride:
            q = _max_pool(q.reshape(b, h, w, -1), self.q_stride)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        # softmax(q k^T / sqrt(d)) v, per head: (B, heads, tokens, head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(b, h, w, -1)
        return self.proj(out)


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block with windowed (or global) attention and optional query
    pooling: ``(B, H, W, dim)`` -> ``(B, H/s, W/s, dim_out)``.

    Args (keyword-only):
        dim, dim_out: input and output widths.
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP over ``dim_out``.
        q_stride: query pooling stride (first block of a new stage), or ``None``.
        window_size: side of the attention windows in tokens of the *input*; 0 for global
            attention.
    """

    def __init__(self, *, dim: int, dim_out: int, num_heads: int, mlp_ratio: float = 4.0,
                 q_stride: int | None = None, window_size: int = 0) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window_size = window_size
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim=dim, dim_out=dim_out, num_heads=num_heads,
                                        q_stride=q_stride)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = Mlp(in_features=dim_out, hidden_features=int(dim_out * mlp_ratio))
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        # at a width change the residual path is projected and pooled like the queries
        if self.dim != self.dim_out:
            shortcut = _max_pool(self.proj(x), self.q_stride)
        # attention inside windows (or over the whole grid)
        window = self.window_size
        if window > 0:
            h, w = x.shape[1:3]
            x, pad_hw = window_partition(x, window)
        x = self.attn(x)
        if self.q_stride:
            # the windows shrank with the pooled queries
            window = self.window_size // self.q_stride
            h, w = shortcut.shape[1:3]
            pad_hw = (h + (-h) % window, w + (-w) % window) if window > 0 else None
        if window > 0:
            x = window_unpartition(x, window, pad_hw, (h, w))
        x = shortcut + x
        # MLP
        return x + self.mlp(self.norm2(x))


class Hiera(nn.Module):
    """The Hiera trunk: image ``(B, 3, H, W)`` -> one feature map per stage, ``(B, C_s, H_s,
    W_s)``, from stride 4 (``C_1 = embed_dim``) to stride 32 (``C_4 = 8 embed_dim``).

    Args (keyword-only):
        embed_dim: width of stage 1 (96 in SAM 2.1 tiny); doubles at each stage.
        num_heads: heads of stage 1; doubles at each stage.
        stages: blocks per stage (tiny: ``(1, 2, 7, 2)``).
        window_sizes: attention window per stage (tiny: ``(8, 4, 14, 7)``).
        global_att_blocks: indices of the blocks with global attention (tiny: ``(5, 7, 9)``).
        window_pos_embed_bkg_spatial_size: the background position embedding's grid (7, 7).
        q_pool: number of stage changes that pool (3).
        q_stride: the pooling stride (2).
        mlp_ratio: MLP width over the block width (4).
    """

    def __init__(
        self,
        *,
        embed_dim: int = 96,
        num_heads: int = 1,
        stages: Sequence[int] = (1, 2, 7, 2),
        window_sizes: Sequence[int] = (8, 4, 14, 7),
        global_att_blocks: Sequence[int] = (5, 7, 9),
        window_pos_embed_bkg_spatial_size: tuple[int, int] = (7, 7),
        q_pool: int = 3,
        q_stride: int = 2,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if len(window_sizes) != len(stages):
            raise ValueError(f"one window size per stage: {len(stages)} stages, "
                             f"{len(window_sizes)} window sizes")
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(
            torch.zeros(1, embed_dim, window_sizes[0], window_sizes[0]))
        # the last block of each stage gives that stage's feature map
        self.stage_ends = [end - 1 for end in accumulate(stages)]
        self.channel_list = [embed_dim * 2**s for s in range(len(stages))][::-1]
        blocks = []
        dim, heads, stage = embed_dim, num_heads, 0
        for i in range(sum(stages)):
            dim_out = dim
            # a window from the previous stage, for the block that pools into a new stage
            window = window_sizes[stage]
            if i - 1 in self.stage_ends[:-1]:
                dim_out, heads, stage = dim * 2, heads * 2, stage + 1
            pools = i - 1 in self.stage_ends[:q_pool]
            blocks.append(MultiScaleBlock(
                dim=dim, dim_out=dim_out, num_heads=heads, mlp_ratio=mlp_ratio,
                q_stride=q_stride if pools else None,
                window_size=0 if i in global_att_blocks else window))
            dim = dim_out
        self.blocks = nn.ModuleList(blocks)

    def _pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        """The windowed position code for an ``(h, w)`` token grid: ``(1, h, w, C)``."""
        pos = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        win = self.pos_embed_window
        pos = pos + win.tile([a // b for a, b in zip(pos.shape, win.shape, strict=True)])
        return pos.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` -> one ``(B, C_s, H_s, W_s)`` map per stage, highest resolution
        first."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(x.shape)}")
        # patches: (B, H/4, W/4, C), channels last, plus the position code
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)
        x = x + self._pos_embed(tuple(x.shape[1:3]))
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
