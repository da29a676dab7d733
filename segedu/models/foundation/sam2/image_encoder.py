"""SAM 2's image encoder: the :class:`~.hiera.Hiera` trunk and the :class:`~.neck.FpnNeck`,
keeping the three finest levels (strides 4, 8 and 16; ``scalp = 1`` drops the stride-32 one, which
has already been added into stride 16 by the top-down path).

Names follow facebookresearch/sam2's ``ImageEncoder`` (``trunk``, ``neck``).
"""

from __future__ import annotations

import torch
from torch import nn

from .hiera import Hiera
from .neck import FpnNeck

__all__ = ["ImageEncoder"]


class ImageEncoder(nn.Module):
    """Image ``(B, 3, S, S)`` -> ``(features, positions)``: three ``(B, d_model, S/r, S/r)``
    maps each, ``r = 4, 8, 16`` (the last one is the image embedding).

    Args (keyword-only):
        trunk: the Hiera backbone.
        neck: the feature pyramid neck.
        scalp: the number of coarsest levels to drop (1).
    """

    def __init__(self, *, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        features, positions = self.neck(self.trunk(images))
        if self.scalp > 0:
            features, positions = features[: -self.scalp], positions[: -self.scalp]
        return features, positions
