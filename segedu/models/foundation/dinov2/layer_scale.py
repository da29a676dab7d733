r"""LayerScale: a learned per-channel gain on each residual branch.

Touvron et al., "Going deeper with Image Transformers" (CaiT), ICCV 2021, section 2; used by every
DINOv2 block (Oquab et al. 2023). A block's branch output ``f(x)`` is multiplied channel by channel
by a vector ``gamma`` before it is added to the residual stream::

    x = x + gamma * f(x),      gamma (D,), initialised to a small constant (1e-5 in DINOv2's
                                training, 1.0 in transformers' default configuration)

Starting ``gamma`` small makes each block start close to the identity, which lets deep ViTs train
stably. The parameter is called ``gamma`` as in DINOv2's ``LayerScale`` (``ls1.gamma``);
transformers calls it ``layer_scale1.lambda1``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerScale"]


class LayerScale(nn.Module):
    """Tokens ``(..., D)`` -> ``(..., D)``, each channel multiplied by its learned gain.

    Args:
        dim: number of channels ``D``.
        init_value: the initial value of every gain.
    """

    def __init__(self, *, dim: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma
