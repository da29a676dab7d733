"""The multi-layer perceptron of DETR-style heads: linear layers with ReLU between them.

DETR's box head (Carion et al., ECCV 2020), Mask2Former's mask embedding (Cheng et al., CVPR 2022)
and SAM's hypernetworks and IoU head (Kirillov et al., ICCV 2023) all use this ``MLP``; its
``layers.{i}.weight``/``bias`` keys are theirs, so their checkpoints load unchanged. EoMT's mask
head (Kerssies et al., CVPR 2025) is the same three-layer MLP with GELU instead of ReLU
(``activation=F.gelu``).
(The transformer block's feed-forward network is :class:`segedu.nn.vit.mlp.Mlp`, timm's ``fc1``,
GELU, ``fc2``.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """``num_layers`` linear layers ``input_dim -> hidden_dim -> ... -> hidden_dim -> output_dim``
    with ReLU between them (none after the last), optionally a sigmoid at the end:
    ``(..., input_dim) -> (..., output_dim)``.

    Args (keyword-only):
        input_dim, hidden_dim, output_dim: widths of the input, of the hidden layers and of the
            output.
        num_layers: number of linear layers (at least 1; with 1, ``hidden_dim`` is unused).
        sigmoid_output: apply a sigmoid to the output (segment-anything's option; no head of
            SAM's turns it on).
        activation: the function between the layers (``F.relu``; EoMT's mask head:
            ``F.gelu``, the exact erf GELU).
    """

    def __init__(
        self,
        *,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        sigmoid_output: bool = False,
        activation: Callable[[torch.Tensor], torch.Tensor] = F.relu,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out, strict=True))
        self.sigmoid_output = sigmoid_output
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:  # ReLU (or GELU) between layers, not after the last
                x = self.activation(x)
        return torch.sigmoid(x) if self.sigmoid_output else x
