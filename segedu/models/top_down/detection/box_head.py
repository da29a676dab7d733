"""Fast R-CNN's box head and predictor (FPN version): from a pooled region to class scores and
class-specific box refinements.

Each proposal's ``7 x 7`` pooled features ``(C, 7, 7)`` are flattened and go through two fully
connected layers with ReLU (``fc6``, ``fc7``: the "2-MLP head" of the FPN paper, 1024 wide), then
two linear predictors: ``cls_score`` gives ``K`` logits (background is class 0) and ``bbox_pred``
``4 K`` deltas, one box refinement per class (decoded with weights ``(10, 10, 5, 5)``).

Parameter names equal torchvision's ``TwoMLPHead`` and ``FastRCNNPredictor``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TwoMLPHead", "FastRCNNPredictor"]


class TwoMLPHead(nn.Module):
    """``(R, C, 7, 7)`` -> ``(R, representation_size)``: flatten, fc6 + ReLU, fc7 + ReLU."""

    def __init__(self, *, in_channels: int, representation_size: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_channels, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(start_dim=1)  # (R, C*7*7)
        x = F.relu(self.fc6(x))  # (R, D)
        return F.relu(self.fc7(x))  # (R, D)


class FastRCNNPredictor(nn.Module):
    """``(R, D)`` -> class logits ``(R, K)`` and per-class deltas ``(R, 4K)``."""

    def __init__(self, *, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, num_classes * 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)
