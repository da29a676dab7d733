r"""SOLOv2's kernel branch: for every cell of the :math:`S \times S` grid, the weights of a
convolution that will cut that cell's object out of the shared mask features.

SOLO predicted one whole mask per cell, :math:`S^2` output channels. SOLOv2 (Wang et al.,
NeurIPS 2020) predicts instead, per cell, a kernel :math:`G_{i,j} \in \mathbb{R}^{1 \times 1
\times E}`: the :math:`E` weights of a 1x1 convolution that is applied to the mask features
:math:`F` (:mod:`.mask_feature`) only for the cells that hold an object,

.. math:: M_{i,j} = G_{i,j} * F

(:mod:`.dynamic_conv`).

The kernel must know *where* its cell is, so the level's map carries CoordConv's two coordinate
channels (:mod:`.coordinates`), appended before it is resized to :math:`S \times S`. A tower of
``num_convs`` 3x3 convolutions (GroupNorm, ReLU) and a last 3x3 convolution give the ``E``
weights. Shape: ``(N, F + 2, S, S) -> (N, E, S, S)``, shared by all levels.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import conv_norm_relu

__all__ = ["KernelBranch"]


class KernelBranch(nn.Module):
    """The kernel branch (see the module docstring).

    Args (keyword-only):
        in_channels: the FPN's width ``F``; the branch takes ``F + 2`` (the coordinates).
        hidden_channels: the tower's width (512 in the paper).
        num_convs: 3x3 convolutions in the tower (4).
        kernel_channels: ``E``, the weights of each generated 1x1 kernel, equal to the mask
            features' channels (256 in the paper).
        num_groups: GroupNorm groups (32).
    """

    def __init__(self, *, in_channels: int, hidden_channels: int, num_convs: int,
                 kernel_channels: int, num_groups: int = 32) -> None:
        super().__init__()
        widths = [in_channels + 2] + [hidden_channels] * num_convs
        self.tower = nn.Sequential(*(conv_norm_relu(a, b, num_groups=num_groups)
                                     for a, b in zip(widths, widths[1:], strict=False)))
        self.kernels = nn.Conv2d(widths[-1], kernel_channels, 3, padding=1)
        nn.init.normal_(self.kernels.weight, std=0.01)
        nn.init.zeros_(self.kernels.bias)

    def forward(self, grid_features: torch.Tensor) -> torch.Tensor:
        """``grid_features (N, F + 2, S, S)`` (coordinates last) -> kernels ``(N, E, S, S)``."""
        return self.kernels(self.tower(grid_features))
