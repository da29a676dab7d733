"""Stochastic depth ("drop path"): skip a residual branch for a random subset of the samples.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016. During training each sample's
branch output is zeroed with probability ``p`` and otherwise divided by ``1 - p`` (so that its
expectation is unchanged); at evaluation it is the identity. DINO trains its student with a rate
growing linearly with depth up to ``drop_path_rate=0.1``; timm's and DINO's ``DropPath`` do the
same.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DropPath"]


class DropPath(nn.Module):
    """``(B, ...)`` -> ``(B, ...)``: each sample's tensor kept (scaled by ``1 / (1 - p)``)
    or zeroed."""

    def __init__(self, *, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        # one Bernoulli(keep) draw per sample, broadcast over the other dimensions
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
