r"""SOLOv2's category branch: for every cell of an :math:`S \times S` grid, the class scores of
the object whose centre falls in that cell.

SOLO (Wang et al., ECCV 2020) divides the image into an :math:`S \times S` grid; the cell that
contains an object's centre is responsible for it, so instance segmentation becomes a
classification of each cell ("which class is centred here?"). The level's FPN map, resized to
:math:`S \times S` by the model, goes through a tower of ``num_convs`` 3x3 convolutions
(GroupNorm, ReLU) and a last 3x3 convolution to one logit per foreground class; the scores are
its sigmoid, trained with the focal loss (:mod:`.loss`). The tower is shared by all levels.

Shape: ``(N, F, S, S) -> (N, C, S, S)`` with ``C`` the foreground classes. The last bias starts
at :math:`-\log((1 - \pi)/\pi)` with the prior :math:`\pi = 0.01` (RetinaNet's initialisation,
which mmdetection's SOLO code keeps), so every cell starts out as "no object".
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import conv_norm_relu

__all__ = ["CategoryBranch", "PRIOR_PROBABILITY"]

PRIOR_PROBABILITY = 0.01


class CategoryBranch(nn.Module):
    """The category branch (see the module docstring).

    Args (keyword-only):
        in_channels: the FPN's width ``F`` (256 in the paper).
        hidden_channels: the tower's width (512 in SOLOv2's published configuration).
        num_convs: 3x3 convolutions in the tower (4 in the paper).
        num_classes: foreground classes ``C`` (80 for COCO), one sigmoid score each.
        num_groups: GroupNorm groups (32).
    """

    def __init__(self, *, in_channels: int, hidden_channels: int, num_convs: int,
                 num_classes: int, num_groups: int = 32) -> None:
        super().__init__()
        widths = [in_channels] + [hidden_channels] * num_convs
        self.tower = nn.Sequential(*(conv_norm_relu(a, b, num_groups=num_groups)
                                     for a, b in zip(widths, widths[1:], strict=False)))
        self.logits = nn.Conv2d(widths[-1], num_classes, 3, padding=1)
        nn.init.normal_(self.logits.weight, std=0.01)
        nn.init.constant_(self.logits.bias, -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))

    def forward(self, grid_features: torch.Tensor) -> torch.Tensor:
        """``grid_features (N, F, S, S)`` -> class logits ``(N, C, S, S)``."""
        return self.logits(self.tower(grid_features))
