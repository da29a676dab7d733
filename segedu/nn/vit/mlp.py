"""The transformer's MLP: ``fc1 (D -> 4D)``, GELU, ``fc2 (4D -> D)``, applied to each token.

Dosovitskiy et al., ICLR 2021 (Eq. 3). Same layer names as timm's and DINO's ``Mlp``; their dropout
(0 in DINO) is left out.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """Tokens ``(B, T, D)`` -> ``(B, T, D)`` through a hidden layer of ``hidden_features`` units."""

    def __init__(self, *, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()  # the exact (erf) GELU, as timm and DINO
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # expand, non-linearity, project back: the same weights for every token
        return self.fc2(self.act(self.fc1(x)))
