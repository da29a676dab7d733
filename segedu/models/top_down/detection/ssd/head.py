"""SSD's heads (Liu et al., ECCV 2016, section 2.1 "Multi-scale feature maps for detection"):
on each of the six maps its own 3x3 convolution predicts, for each of the ``A_k`` default boxes
of a cell, ``K`` class logits (background included, a softmax over them) and 4 box deltas.

Unlike RetinaNet's head, nothing is shared between the levels: each map has its own
convolutions, since its channels and its number of boxes per cell differ. Each output
``(N, A_k * D, h, w)`` is reordered to ``(N, h * w * A_k, D)`` (the order of the default boxes,
:mod:`.default_boxes`) and the maps are concatenated: ``(N, 8732, D)`` for SSD300. Parameter
names are torchvision's ``SSDHead``'s.
"""

from __future__ import annotations

import torch
from torch import nn

from ..one_stage import flatten_anchor_outputs
from .vgg_backbone import xavier_init

__all__ = ["SSDScoringHead", "SSDHead"]


class SSDScoringHead(nn.Module):
    """One 3x3 convolution per map, each giving ``depth`` numbers per default box.

    Args (keyword-only):
        in_channels: the maps' channels.
        num_anchors: default boxes per cell of each map.
        depth: ``K`` for the classes, 4 for the boxes.

    ``forward(features)``: a list of ``(N, in_channels[k], h_k, w_k)`` -> ``(N, R, depth)``.
    """

    def __init__(self, *, in_channels: list[int], num_anchors: list[int], depth: int) -> None:
        super().__init__()
        if len(in_channels) != len(num_anchors):
            raise ValueError(f"need the boxes per cell of each of the {len(in_channels)} maps, "
                             f"got {len(num_anchors)}")
        self.module_list = nn.ModuleList(nn.Conv2d(c, a * depth, kernel_size=3, padding=1)
                                         for c, a in zip(in_channels, num_anchors, strict=True))
        xavier_init(self.module_list)
        self.depth = depth

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # each map its own convolution; (N, A_k * depth, h, w) -> (N, h * w * A_k, depth)
        return torch.cat([flatten_anchor_outputs(conv(x), self.depth)
                          for conv, x in zip(self.module_list, features, strict=True)], dim=1)


class SSDHead(nn.Module):
    """Class logits and box deltas for every default box: a list of maps ->
    ``{"cls_logits": (N, R, num_classes), "bbox_regression": (N, R, 4)}``."""

    def __init__(self, *, in_channels: list[int], num_anchors: list[int],
                 num_classes: int) -> None:
        super().__init__()
        self.classification_head = SSDScoringHead(in_channels=in_channels,
                                                  num_anchors=num_anchors, depth=num_classes)
        self.regression_head = SSDScoringHead(in_channels=in_channels, num_anchors=num_anchors,
                                              depth=4)

    def forward(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"bbox_regression": self.regression_head(features),
                "cls_logits": self.classification_head(features)}
