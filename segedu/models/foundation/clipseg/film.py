r"""FiLM: feature-wise linear modulation by a conditioning vector.

Perez, Strub, de Vries, Dumoulin & Courville, "FiLM: Visual Reasoning with a General
Conditioning Layer", AAAI 2018. A conditioning vector :math:`c` (here CLIPSeg's prompt embedding)
sets a scale and a shift for every feature channel of every token:

.. math:: \operatorname{FiLM}(x, c) = \gamma(c) \odot x + \beta(c), \qquad
          \gamma = W_\gamma c + b_\gamma,\ \beta = W_\beta c + b_\beta .

CLIPSeg (Lüddecke & Ecker, CVPR 2022, Sec. 3) applies it once, to the reduced activations of the
deepest extracted layer: the prompt decides which channels of the image's tokens count. Names are
``transformers``' ``film_mul`` and ``film_add`` (``CLIPSegDecoder``) without the ``film_``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FiLM"]


class FiLM(nn.Module):
    """Tokens ``(B, T, D)`` and conditions ``(B, P)`` -> ``(B, T, D)``: ``mul(c) * x + add(c)``.

    Args (keyword-only):
        condition_dim: ``P``, the width of the conditioning vector.
        dim: ``D``, the token width.
    """

    def __init__(self, *, condition_dim: int, dim: int) -> None:
        super().__init__()
        self.mul = nn.Linear(condition_dim, dim)
        self.add = nn.Linear(condition_dim, dim)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        if condition.ndim != 2 or condition.shape[0] != x.shape[0]:
            raise ValueError(f"condition must be (B, P) with B = {x.shape[0]} (one per image), "
                             f"got {tuple(condition.shape)}")
        # one scale and one shift per channel, the same for every token of the image
        return self.mul(condition)[:, None] * x + self.add(condition)[:, None]
