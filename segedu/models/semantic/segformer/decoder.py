"""The all-MLP decoder: every stage's map projected to one width, up-sampled to stride 4,
concatenated, fused and classified.

Xie et al., NeurIPS 2021, Sec. 3.2 (Eq. 4). The encoder's receptive field is already large (its
attention sees the whole image from the first stage on), so the decoder needs no ASPP or pyramid
pooling, only four per-pixel linear layers::

    F_i  (B, C_i, H/s_i, W/s_i)   -> Linear(C_i -> D) per pixel     (projections.i)
                                  -> bilinear up-sampling to H/4 x W/4
    concat [F_4, F_3, F_2, F_1]   (B, 4D, H/4, W/4)                   (deepest first)
         -> 1x1 conv (no bias), BatchNorm, ReLU                      (fuse, norm)
         -> dropout -> 1x1 conv                                      (classifier)
    logits (B, K, H/4, W/4)

The paper writes the fusion as a linear layer; both references implement it as a 1x1 convolution
with BatchNorm and ReLU (mmsegmentation's ``ConvModule``). Up-sampling uses
``align_corners=False``, as they do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AllMLPDecoder"]


class AllMLPDecoder(nn.Module):
    """The encoder's maps ``[(B, C_i, h_i, w_i)]`` (finest first) -> logits ``(B, K, h_1, w_1)``.

    Args:
        in_channels: ``C_i`` of every stage.
        dim: the decoder's width ``D``.
        num_classes: ``K``.
        dropout: before the classifier, in training only.
    """

    def __init__(self, *, in_channels: list[int] | tuple[int, ...], dim: int, num_classes: int,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(c, dim) for c in in_channels)
        self.fuse = nn.Conv2d(len(in_channels) * dim, dim, kernel_size=1, bias=False)
        self.norm = nn.BatchNorm2d(dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(dim, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]  # the finest grid, stride 4
        unified = []
        for feature, project in zip(features, self.projections, strict=True):
            # 1. one linear layer per pixel: (B, C_i, h, w) -> (B, D, h, w)
            b, _, h, w = feature.shape
            x = project(feature.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)
            # 2. up-sampled to the finest grid: (B, D, H/4, W/4)
            unified.append(F.interpolate(x, size=size, mode="bilinear", align_corners=False))
        # 3. deepest first, concatenated and fused: (B, 4D, H/4, W/4) -> (B, D, H/4, W/4)
        x = torch.relu(self.norm(self.fuse(torch.cat(unified[::-1], dim=1))))
        # 4. a class score per pixel: (B, K, H/4, W/4)
        return self.classifier(self.dropout(x))
