r"""The SwiGLU feed-forward network of DINOv2's giant model.

Shazeer, "GLU Variants Improve Transformer", 2020 (arXiv:2002.05202), Eq. 6; DINOv2 (Oquab et al.
2023) uses it in ViT-g/14 instead of the GELU MLP. Per token ``x (D,)``::

    gate, up = split(x W12 + b12)           two halves of one linear layer, H channels each
    y = (SiLU(gate) * up) W3 + b3           SiLU(z) = z sigmoid(z); back to D channels

The hidden size keeps the MLP's parameter count: ``H = 2/3 * mlp_ratio * D`` rounded up to a
multiple of 8, that is ``(int(int(D * mlp_ratio) * 2 / 3) + 7) // 8 * 8`` (4096 for ViT-g's
``D = 1536, mlp_ratio = 4``). Names are DINOv2's ``SwiGLUFFNFused`` (``w12``, ``w3``);
transformers splits ``w12`` into ``gate_proj`` and ``up_proj`` and calls ``w3`` ``down_proj``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SwiGLUFFN", "swiglu_hidden_features"]


def swiglu_hidden_features(dim: int, mlp_ratio: float) -> int:
    """The hidden size ``H`` of DINOv2's SwiGLU for tokens of ``dim`` channels (see above)."""
    hidden = int(dim * mlp_ratio)
    return (int(hidden * 2 / 3) + 7) // 8 * 8


class SwiGLUFFN(nn.Module):
    """Tokens ``(B, T, D)`` -> ``(B, T, D)`` through a gated hidden layer of ``H`` channels.

    Args:
        dim: token dimension ``D``.
        mlp_ratio: the MLP ratio the hidden size ``H`` is derived from.
    """

    def __init__(self, *, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = swiglu_hidden_features(dim, mlp_ratio)
        self.w12 = nn.Linear(dim, 2 * hidden)  # the gate and the value, side by side
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1. one linear layer gives the gate and the value: (B, T, 2H) -> 2 x (B, T, H)
        gate, up = self.w12(x).chunk(2, dim=-1)
        # 2. the SiLU of the gate scales the value channel by channel; project back to D
        return self.w3(F.silu(gate) * up)
