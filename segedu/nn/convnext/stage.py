"""A ConvNeXt stage: a downsampling layer (the patchify stem in stage 1), then blocks at one
resolution.

Liu et al., CVPR 2022, section 2.2 ("Changing stage compute ratio"): ConvNeXt-T has 3, 3, 9, 3
blocks in its four stages (ResNet-50 has 3, 4, 6, 3; Swin-T's 1:1:3:1 ratio), with 96, 192, 384
and 768 channels, at strides 4, 8, 16 and 32.
"""

from __future__ import annotations

import torch
from torch import nn

from .block import ConvNeXtBlock
from .downsample import Downsample, PatchifyStem

__all__ = ["ConvNeXtStage"]


class ConvNeXtStage(nn.Module):
    """``(B, C_in, H, W)`` -> ``(B, C_out, H / s, W / s)`` (``s`` = 4 for the stem, else 2).

    Args (keyword-only):
        in_channels: ``C_in`` (image channels for the first stage).
        out_channels: ``C_out``.
        depth: number of blocks.
        stem: open with the patchify stem (stage 1) instead of a :class:`Downsample`.
        layer_scale_init_value: initial layer scale of the blocks.
        drop_path: one stochastic depth probability per block (``depth`` values).
    """

    def __init__(self, *, in_channels: int, out_channels: int, depth: int, stem: bool = False,
                 layer_scale_init_value: float = 1e-6,
                 drop_path: tuple[float, ...] | None = None) -> None:
        super().__init__()
        drop_path = drop_path or (0.0,) * depth
        if len(drop_path) != depth:
            raise ValueError(f"drop_path needs {depth} values (one per block), got {drop_path!r}")
        self.downsample = (PatchifyStem(in_chans=in_channels, out_channels=out_channels) if stem
                           else Downsample(in_channels=in_channels, out_channels=out_channels))
        self.blocks = nn.Sequential(*(
            ConvNeXtBlock(dim=out_channels, layer_scale_init_value=layer_scale_init_value,
                          drop_path=p) for p in drop_path))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))
