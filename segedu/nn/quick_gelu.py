r"""QuickGELU, :math:`x \, \sigma(1.702 x)`: the cheap approximation of GELU that OpenAI's CLIP
(Radford et al., ICML 2021) was trained with (``hidden_act="quick_gelu"`` in ``transformers``).
A model that loads CLIP-trained weights must use it, not GELU: the two differ by up to 0.0203
(at ``x`` near -2.27), enough to move a trained network's outputs. CLIPSeg's encoders and
OneFormer's text encoder use it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["QuickGELU"]


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, elementwise, any shape (OpenAI CLIP's ``QuickGELU``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)
