"""The two-layer MLP of a transformer block, ``lin1``, activation, ``lin2`` (SAM's ``MLPBlock``).

SAM's image encoder and two-way transformer (Kirillov et al., ICCV 2023) and CLIPSeg's CLIP layers
use it; its attribute names are those of segment-anything's ``modeling/common.py``, so the official
checkpoints load directly. (DETR-style heads use :class:`segedu.nn.mlp.MLP`; timm's ViT block uses
:class:`segedu.nn.vit.mlp.Mlp`, ``fc1``/``fc2``.)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLPBlock"]


class MLPBlock(nn.Module):
    """``lin2(act(lin1(x)))``: ``(..., embedding_dim)`` -> ``(..., embedding_dim)``."""

    def __init__(self, *, embedding_dim: int, mlp_dim: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))
