"""A Swin stage: patch merging (except in the first stage), then blocks alternating regular and
shifted windows.

Liu et al., ICCV 2021, Figure 3(a): stage 1 is the patch embedding and two blocks; stages 2-4
each begin with a patch merging (resolution / 2, channels x 2). Consecutive blocks alternate
W-MSA and SW-MSA (shift ``M // 2``), so that each pair connects neighbouring windows.
Here the merging opens a stage (as torchvision's layout has it), so a stage's output is the
feature map at its stride, 4, 8, 16 or 32. Between stages the maps are channels first, as a
CNN's; inside, the tokens are channels last, as the linear layers want them.
"""

from __future__ import annotations

import torch
from torch import nn

from .block import SwinBlock
from .patch_merging import PatchMerging

__all__ = ["SwinStage"]


class SwinStage(nn.Module):
    """``(B, C_in, H, W)`` -> ``(B, 2 C_in, H/2, W/2)`` with merging, ``(B, C_in, H, W)``
    without (sides rounded up).

    Args (keyword-only):
        dim: ``C_in``, the channels coming in.
        depth: number of blocks.
        num_heads: attention heads of every block.
        window_size: ``(Mh, Mw)``.
        downsample: open with a :class:`PatchMerging`.
        mlp_ratio: MLP width over channels.
        drop_path: one stochastic depth probability per block (``depth`` values).
    """

    def __init__(self, *, dim: int, depth: int, num_heads: int, window_size: tuple[int, int],
                 downsample: bool, mlp_ratio: float = 4.0,
                 drop_path: tuple[float, ...] | None = None) -> None:
        super().__init__()
        drop_path = drop_path or (0.0,) * depth
        if len(drop_path) != depth:
            raise ValueError(f"drop_path needs {depth} values (one per block), got {drop_path!r}")
        self.downsample = PatchMerging(dim=dim) if downsample else None
        dim = 2 * dim if downsample else dim
        self.out_channels = dim
        shift = (window_size[0] // 2, window_size[1] // 2)
        self.blocks = nn.Sequential(*(
            SwinBlock(dim=dim, num_heads=num_heads, window_size=window_size,
                      shift_size=(0, 0) if i % 2 == 0 else shift,  # W-MSA, SW-MSA, W-MSA, ...
                      mlp_ratio=mlp_ratio, drop_path=drop_path[i])
            for i in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C): tokens, channels last
        if self.downsample is not None:
            x = self.downsample(x)  # (B, H/2, W/2, 2C)
        x = self.blocks(x)
        return x.permute(0, 3, 1, 2)  # (B, C', H', W'): channels first
