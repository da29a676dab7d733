r"""EoMT's prediction: a class and a mask per query, read from the ViT's own tokens.

Given the normalised tokens ``[Q queries; P prefix tokens; h w patches]`` (Kerssies et al.,
CVPR 2025, section 3.2, the "mask module"):

- **class logits** ``(B, Q, K + 1)``: a linear layer on each query token (the last class is
  "no object");
- **mask logits** ``(B, Q, 4h, 4w)`` for 16-pixel patches: each query token goes through a
  three-layer MLP with GELU (the *mask embedding* :math:`e_q`), the patch tokens back onto their
  grid and through the up-scaling blocks (:class:`~.scale_block.ScaleBlock`), giving pixel
  features :math:`F`; a mask is the dot product of a query's embedding with every pixel feature,

  .. math:: m_q(x) = e_q^\top F(x),

  Mask2Former's ``einsum("bqc,bchw->bqhw")`` with the ViT as the pixel decoder.

The class token and the registers are skipped. Names ``class_head``, ``mask_head`` and
``upscale`` are the authors' (``models/eomt.py``); the mask head is :class:`segedu.nn.MLP` with
``activation=F.gelu``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....nn import MLP
from .scale_block import ScaleBlock

__all__ = ["EomtPredictionHead"]


class EomtPredictionHead(nn.Module):
    """Tokens ``(B, Q + P + h w, D)`` -> mask logits ``(B, Q, 2^u h, 2^u w)`` and class logits
    ``(B, Q, K + 1)``.

    Args:
        dim: token width ``D``.
        num_classes: ``K`` (without "no object").
        num_upscale: ``u`` up-scaling blocks (each doubles the resolution).
    """

    def __init__(self, *, dim: int, num_classes: int, num_upscale: int) -> None:
        super().__init__()
        self.class_head = nn.Linear(dim, num_classes + 1)
        self.mask_head = MLP(input_dim=dim, hidden_dim=dim, output_dim=dim, num_layers=3,
                             activation=F.gelu)
        self.upscale = nn.Sequential(*[ScaleBlock(dim=dim) for _ in range(num_upscale)])

    def forward(self, tokens: torch.Tensor, *, num_queries: int, num_prefix_tokens: int,
                grid_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        # 1. the query tokens: a class each
        queries = tokens[:, :num_queries]  # (B, Q, D)
        class_logits = self.class_head(queries)  # (B, Q, K + 1)
        # 2. the patch tokens back on their grid, up-scaled: pixel features (B, D, H', W')
        patches = tokens[:, num_queries + num_prefix_tokens:]  # (B, h w, D)
        features = patches.transpose(1, 2).reshape(patches.shape[0], -1, *grid_size)
        features = self.upscale(features)
        # 3. each query's mask embedding dotted with every pixel feature
        mask_logits = torch.einsum("bqc,bchw->bqhw", self.mask_head(queries), features)
        return mask_logits, class_logits
