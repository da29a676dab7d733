"""YOLACT's prediction head: for every anchor of every FPN level, class scores, box deltas and
``k`` mask coefficients.

It is RetinaNet's head made lighter and given a third branch. One head is shared by all levels
(the same weights slide over ``P3`` .. ``P7``): a 3x3 convolution with ReLU, then three parallel
3x3 convolutions giving, for each of the ``A`` anchors of a position,

- ``C`` class logits (background included; a softmax over them at inference),
- 4 box deltas (encoded against the anchor, :func:`segedu.ops.encode_boxes`),
- ``k`` mask coefficients, squashed by ``tanh`` into ``[-1, 1]`` so that a detection can *subtract*
  a prototype as well as add it.

The outputs of a level ``(N, A * D, h, w)`` are reordered to ``(N, h * w * A, D)``: position by
position, row by row, and within a position anchor by anchor, the order of the anchors in
:mod:`.model`; the levels are then concatenated.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PredictionHead"]


def _flatten(x: torch.Tensor, depth: int) -> torch.Tensor:
    """``(N, A * depth, h, w)`` -> ``(N, h * w * A, depth)``, position-major then anchor."""
    n, _, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n, h * w * (x.shape[1] // depth), depth)


class PredictionHead(nn.Module):
    """The shared per-anchor head.

    Args (keyword-only):
        in_channels: the FPN width.
        num_anchors: ``A``, anchors per position (3 in the paper: ratios 1, 1/2, 2).
        num_classes: ``C``, background included.
        num_prototypes: ``k``.
        background_prior: the background probability that the untrained head starts with (the
            class bias is set so); a high value keeps the many easy negatives from swamping the
            first steps, as RetinaNet's prior. ``None`` leaves the default bias.

    ``forward(features)``: a list of ``(N, in_channels, h_l, w_l)`` maps -> ``class_logits
    (N, R, C)``, ``box_deltas (N, R, 4)``, ``coefficients (N, R, k)`` with ``R = sum_l h_l w_l A``.
    """

    def __init__(self, *, in_channels: int, num_anchors: int = 3, num_classes: int,
                 num_prototypes: int,
                 background_prior: float | None = 0.99) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError("num_classes counts the background and must be >= 2, got "
                             f"{num_classes}")
        self.num_anchors, self.num_classes, self.num_prototypes = (num_anchors, num_classes,
                                                                   num_prototypes)
        # the shared 3x3 convolution
        self.upfeature = nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1),
                                       nn.ReLU(inplace=True))
        # the three branches
        self.class_conv = nn.Conv2d(in_channels, num_anchors * num_classes, 3, padding=1)
        self.box_conv = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        self.coef_conv = nn.Conv2d(in_channels, num_anchors * num_prototypes, 3, padding=1)
        if background_prior is not None:
            if not 0 < background_prior < 1:
                raise ValueError(f"background_prior must be in (0, 1), got {background_prior}")
            # softmax(bias) = (prior, (1 - prior) / (C - 1), ...)
            foreground = (1 - background_prior) / (num_classes - 1)
            bias = torch.full((num_anchors, num_classes), math.log(foreground))
            bias[:, 0] = math.log(background_prior)
            with torch.no_grad():
                self.class_conv.bias.copy_(bias.reshape(-1))

    def forward(self,
                features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        class_logits, box_deltas, coefficients = [], [], []
        for x in features:
            x = self.upfeature(x)  # (N, in_channels, h, w)
            class_logits.append(_flatten(self.class_conv(x), self.num_classes))  # (N, h w A, C)
            box_deltas.append(_flatten(self.box_conv(x), 4))  # (N, h w A, 4)
            # (N, h w A, k)
            coefficients.append(torch.tanh(_flatten(self.coef_conv(x), self.num_prototypes)))
        return torch.cat(class_logits, 1), torch.cat(box_deltas, 1), torch.cat(coefficients, 1)
