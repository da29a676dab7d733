"""Mix-FFN: the transformer's MLP with a 3 x 3 depthwise convolution between its two layers.

ViT adds a position embedding of fixed size to its tokens and must interpolate it for another
image size, which costs accuracy. SegFormer (Xie et al., NeurIPS 2021, Eq. 3) drops position
embeddings altogether: a 3 x 3 depthwise convolution inside every MLP lets each token see its
neighbours, which leaks enough position information (zero padding tells a border token where it
is) and works at any size::

    x_out = MLP(GELU(Conv3x3(MLP(x_in)))) + x_in       (the residual is the block's, .block)

The convolution is depthwise (one 3 x 3 filter per channel, ``groups = channels``) on the hidden
``4 C`` channels, so it adds only ``9 x 4 C`` weights (and biases) per block.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MixFFN"]


class MixFFN(nn.Module):
    """Tokens ``(B, h w, C)`` on an ``h x w`` grid -> tokens ``(B, h w, C)``.

    Args:
        dim: token width ``C``.
        hidden_dim: width of the hidden layer (``4 C`` in every published size).
    """

    def __init__(self, *, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, kernel_size=3, padding=1,
                                groups=hidden_dim)
        self.act = nn.GELU()  # the exact (erf) GELU, as the references
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        # 1. expand each token: (B, N, 4C)
        x = self.fc1(x)
        # 2. on the grid, mix each channel with its 3 x 3 neighbours: (B, 4C, h, w) -> (B, N, 4C)
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, *size)).flatten(2).transpose(1, 2)
        # 3. non-linearity, project back: (B, N, C)
        return self.fc2(self.act(x))
