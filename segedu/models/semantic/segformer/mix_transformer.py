"""The Mix Transformer (MiT) encoder: four stages of overlapping patch embedding, blocks and a
LayerNorm, giving feature maps at strides 4, 8, 16 and 32.

Xie et al., NeurIPS 2021, Sec. 3.1. Unlike ViT, whose one token grid stays at stride 16, MiT is
hierarchical like a ResNet: each stage embeds the previous stage's map into a coarser grid with
more channels, so a decoder gets fine maps for the boundaries and coarse ones for the context::

    image (B, 3, H, W)
      -> stage 1: OverlapPatchEmbed(7, stride 4) -> blocks (R = 8) -> LN   (B, C1, H/4,  W/4)
      -> stage 2: OverlapPatchEmbed(3, stride 2) -> blocks (R = 4) -> LN   (B, C2, H/8,  W/8)
      -> stage 3: OverlapPatchEmbed(3, stride 2) -> blocks (R = 2) -> LN   (B, C3, H/16, W/16)
      -> stage 4: OverlapPatchEmbed(3, stride 2) -> blocks (R = 1) -> LN   (B, C4, H/32, W/32)

(the sizes rounded as the convolutions round them). There is no position embedding: the Mix-FFN's
depthwise convolutions give the position (:mod:`.mix_ffn`). The stochastic-depth rate grows
linearly from 0 at the first block to ``drop_path_rate`` at the last, over all the stages.
"""

from __future__ import annotations

import torch
from torch import nn

from .block import MixTransformerBlock
from .config import SegformerConfig
from .patch_embed import OverlapPatchEmbed

__all__ = ["MixTransformerStage", "MixTransformer"]


class MixTransformerStage(nn.Module):
    """Feature map ``(B, C_in, H, W)`` -> feature map ``(B, C, h, w)`` of one stage.

    Args:
        in_channels, dim: ``C_in`` and ``C``.
        patch_size, stride: the overlapping patch embedding's kernel and stride.
        depth: number of blocks.
        num_heads, sr_ratio, mlp_ratio: those of every block.
        drop_paths: the stochastic-depth probability of each block (``depth`` of them).
    """

    def __init__(self, *, in_channels: int, dim: int, patch_size: int, stride: int, depth: int,
                 num_heads: int, sr_ratio: int, mlp_ratio: int,
                 drop_paths: list[float]) -> None:
        super().__init__()
        self.patch_embed = OverlapPatchEmbed(patch_size=patch_size, stride=stride,
                                             in_channels=in_channels, dim=dim)
        self.blocks = nn.ModuleList(
            MixTransformerBlock(dim=dim, num_heads=num_heads, sr_ratio=sr_ratio,
                                mlp_ratio=mlp_ratio, drop_path=drop_paths[j])
            for j in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1. embed into a coarser grid of tokens: (B, h w, C)
        tokens, (h, w) = self.patch_embed(x)
        # 2. the blocks, which need the grid for their convolutions
        for block in self.blocks:
            tokens = block(tokens, (h, w))
        # 3. normalise, and back to a feature map: (B, C, h, w)
        tokens = self.norm(tokens)
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)


class MixTransformer(nn.Module):
    """Images ``(B, C_in, H, W)`` -> the four stages' maps ``[(B, C_i, H / s_i, W / s_i)]``,
    ``s = 4, 8, 16, 32`` for the published strides (built from a :class:`.config.SegformerConfig`;
    only its encoder fields are read)."""

    def __init__(self, *, config: SegformerConfig) -> None:
        super().__init__()
        blocks = sum(config.depths)
        rates = [config.drop_path_rate * i / max(blocks - 1, 1) for i in range(blocks)]
        self.stages = nn.ModuleList()
        in_channels, first = config.in_channels, 0
        for i, dim in enumerate(config.hidden_sizes):
            depth = config.depths[i]
            self.stages.append(MixTransformerStage(
                in_channels=in_channels, dim=dim, patch_size=config.patch_sizes[i],
                stride=config.strides[i], depth=depth, num_heads=config.num_heads[i],
                sr_ratio=config.sr_ratios[i], mlp_ratio=config.mlp_ratios[i],
                drop_paths=rates[first:first + depth]))
            in_channels, first = dim, first + depth
        self.out_channels = list(config.hidden_sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:  # each stage reads the previous one's map
            x = stage(x)
            features.append(x)
        return features
