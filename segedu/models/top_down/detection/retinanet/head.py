"""RetinaNet's head (Lin et al., ICCV 2017, Fig. 3): two small fully convolutional subnets,
shared by every pyramid level.

- the **classification subnet**: four 3x3 convolutions of ``C`` channels with ReLU, then a 3x3
  convolution to ``A * K`` outputs: for each of the ``A`` anchors of a position, ``K`` logits,
  each its own binary problem (a sigmoid per class, no softmax and no background class);
- the **box regression subnet**: the same four convolutions (other weights), then ``A * 4``
  deltas, class-agnostic (against the anchor, :func:`segedu.ops.encode_boxes`).

Initialisation matters here (the paper's section 4.1): the last classification bias is
``-log((1 - pi) / pi)`` with prior ``pi = 0.01``, so every anchor starts out almost surely
background. Without it the ~100,000 easy negatives would give a huge loss in the first steps
and training diverges.

Each level's output ``(N, A * D, h, w)`` is reordered to ``(N, h * w * A, D)`` (position by
position, row by row; within a position anchor by anchor: the order of
:class:`segedu.ops.AnchorGenerator`) and the levels are concatenated. Parameter names are
torchvision's (``conv.i.0`` is the i-th convolution, ``conv.i.1`` its ReLU).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..one_stage import flatten_anchor_outputs

__all__ = ["RetinaNetClassificationHead", "RetinaNetRegressionHead", "RetinaNetHead"]


def _subnet_tower(channels: int) -> nn.Sequential:
    """Four 3x3 convolutions with ReLU, weights N(0, 0.01), zero bias (the paper's)."""
    tower = nn.Sequential(*(nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1),
                                          nn.ReLU(inplace=True)) for _ in range(4)))
    for layer in tower.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)
    return tower


class RetinaNetClassificationHead(nn.Module):
    """The classification subnet: a list of ``(N, in_channels, h_l, w_l)`` maps ->
    ``(N, R, num_classes)`` logits, ``R = sum_l h_l w_l A``.

    Args (keyword-only):
        in_channels: the FPN width (256).
        num_anchors: ``A``, anchors per position (9: three sizes times three aspect ratios).
        num_classes: ``K`` outputs per anchor (torchvision keeps a column for label 0).
        prior_probability: the initial foreground probability ``pi`` of every anchor (0.01).
    """

    def __init__(self, *, in_channels: int, num_anchors: int, num_classes: int,
                 prior_probability: float = 0.01) -> None:
        super().__init__()
        if not 0 < prior_probability < 1:
            raise ValueError(f"prior_probability must be in (0, 1), got {prior_probability}")
        self.num_classes = num_classes
        self.conv = _subnet_tower(in_channels)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors * num_classes, 3, padding=1)
        nn.init.normal_(self.cls_logits.weight, std=0.01)
        # sigmoid(bias) = pi: every anchor starts as confident background
        nn.init.constant_(self.cls_logits.bias,
                          -math.log((1 - prior_probability) / prior_probability))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # the same weights on every level; (N, A * K, h, w) -> (N, h * w * A, K)
        return torch.cat([flatten_anchor_outputs(self.cls_logits(self.conv(x)), self.num_classes)
                          for x in features], dim=1)


class RetinaNetRegressionHead(nn.Module):
    """The box subnet: a list of ``(N, in_channels, h_l, w_l)`` maps -> ``(N, R, 4)`` deltas.

    Args (keyword-only): ``in_channels``, ``num_anchors`` as the classification head's.
    """

    def __init__(self, *, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = _subnet_tower(in_channels)
        self.bbox_reg = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        nn.init.normal_(self.bbox_reg.weight, std=0.01)
        nn.init.zeros_(self.bbox_reg.bias)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # (N, A * 4, h, w) -> (N, h * w * A, 4), levels concatenated
        return torch.cat([flatten_anchor_outputs(self.bbox_reg(self.conv(x)), 4)
                          for x in features], dim=1)


class RetinaNetHead(nn.Module):
    """Both subnets: a list of feature maps -> ``{"cls_logits": (N, R, K),
    "bbox_regression": (N, R, 4)}``. Arguments as :class:`RetinaNetClassificationHead`'s."""

    def __init__(self, *, in_channels: int, num_anchors: int, num_classes: int,
                 prior_probability: float = 0.01) -> None:
        super().__init__()
        self.classification_head = RetinaNetClassificationHead(
            in_channels=in_channels, num_anchors=num_anchors, num_classes=num_classes,
            prior_probability=prior_probability)
        self.regression_head = RetinaNetRegressionHead(in_channels=in_channels,
                                                       num_anchors=num_anchors)

    def forward(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"cls_logits": self.classification_head(features),
                "bbox_regression": self.regression_head(features)}
