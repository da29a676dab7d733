"""The ConvNeXt block: a 7 x 7 depthwise convolution, LayerNorm, and an inverted-bottleneck MLP,
scaled per channel and added to the input.

Liu et al., "A ConvNet for the 2020s", CVPR 2022, section 2 and Figure 4. Starting from a
ResNet's bottleneck, the paper moves it step by step towards a Transformer block: the 3 x 3
convolution becomes a 7 x 7 *depthwise* one (one filter per channel, mixing space only, like
attention inside a window) placed first; BatchNorm becomes a single LayerNorm; ReLU becomes one
GELU; the bottleneck is *inverted* (``C -> 4C -> C``, the Transformer's MLP, done as 1 x 1
convolutions, i.e. linear layers on channels-last pixels). Two training devices complete it:
layer scale (a learned per-channel factor ``gamma``, initialised to 1e-6, so each block starts
near the identity) and stochastic depth::

    x -> dwconv 7x7 -> LayerNorm -> Linear C->4C -> GELU -> Linear 4C->C -> * gamma -> + x

Names follow the paper's code (``dwconv``, ``norm``, ``pwconv1``, ``pwconv2``, ``gamma``), which
SAM 2's memory encoder also uses for its ``CXBlock``. The LayerNorm normalises the channels of
each pixel before the permutation to channels last (:class:`segedu.nn.LayerNorm2d`, as SAM 2
does); the paper's code normalises after it: the same function, last bits apart.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layer_norm_2d import LayerNorm2d
from ..vit.drop_path import DropPath

__all__ = ["ConvNeXtBlock"]


class ConvNeXtBlock(nn.Module):
    """``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Args (keyword-only):
        dim: ``C``.
        hidden_dim: width of the pointwise MLP (``4 C`` when not given).
        kernel_size: side of the depthwise convolution (7; padded to keep the size).
        layer_scale_init_value: initial ``gamma`` (1e-6; 0 or less: no layer scale).
        drop_path: stochastic depth probability.
    """

    def __init__(self, *, dim: int, hidden_dim: int | None = None, kernel_size: int = 7,
                 layer_scale_init_value: float = 1e-6, drop_path: float = 0.0) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}")
        hidden_dim = hidden_dim or 4 * dim
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(num_channels=dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(hidden_dim, dim)
        self.gamma = (nn.Parameter(layer_scale_init_value * torch.ones(dim))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm(self.dwconv(x))  # (B, C, H, W): spatial mixing per channel, normalised
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C): channels last for the per-pixel MLP
        x = self.pwconv2(self.act(self.pwconv1(x)))  # C -> 4C -> C: the inverted bottleneck
        if self.gamma is not None:
            x = self.gamma * x  # layer scale: a learned factor per channel
        return shortcut + self.drop_path(x.permute(0, 3, 1, 2))  # (B, C, H, W)
