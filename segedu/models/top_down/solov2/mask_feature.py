r"""SOLOv2's unified mask-feature branch: one map :math:`F` at 1/4 of the image, shared by every
instance, from which each dynamic kernel cuts its mask.

The paper (its "mask feature" section and figure) fuses the FPN levels P2 .. P5 into one map
at P2's scale (stride 4), as Panoptic FPN's semantic branch does: level :math:`l` (stride
:math:`2^{l}`) goes through :math:`l - 2` rounds of "3x3 convolution (GroupNorm, ReLU), 2x
bilinear up-sampling" (P2 through one convolution only); the four results are **added**, and a
1x1 convolution (GroupNorm, ReLU) gives the :math:`E` channels of :math:`F`. The deepest level,
P5, carries CoordConv's two coordinate channels (:mod:`.coordinates`), which give :math:`F` the
position information that lets one kernel select one of two identical objects.

Shapes: four maps ``(N, F_in, H/4, W/4) .. (N, F_in, H/32, W/32)`` -> ``(N, E, H/4, W/4)``.

mmdetection's ``MaskFeatModule`` (read for this) has the same layers; it up-samples with
``scale_factor=2`` and so needs the image padded to a multiple of 32. Here each up-sampling
goes to the size of the next finer level instead, which is the same on such images and also
works on the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .coordinates import with_coordinates
from .layers import conv_norm_relu

__all__ = ["MaskFeatureBranch"]


class MaskFeatureBranch(nn.Module):
    """The unified mask-feature branch (see the module docstring).

    Args (keyword-only):
        in_channels: the FPN's width (256).
        hidden_channels: the width of each level's convolutions (128 in the paper).
        out_channels: ``E``, the mask features' channels (256), the dynamic kernels' length.
        num_levels: how many levels are fused, P2 first (4: P2 .. P5).
        num_groups: GroupNorm groups (32).
    """

    def __init__(self, *, in_channels: int, hidden_channels: int, out_channels: int,
                 num_levels: int = 4, num_groups: int = 32) -> None:
        super().__init__()
        if num_levels < 1:
            raise ValueError(f"num_levels must be >= 1, got {num_levels}")
        self.num_levels = num_levels
        self.levels = nn.ModuleList()
        for level in range(num_levels):
            # the deepest level gets the two coordinate channels
            first = in_channels + 2 if level == num_levels - 1 and level > 0 else in_channels
            widths = [first] + [hidden_channels] * max(level, 1)
            self.levels.append(nn.ModuleList(conv_norm_relu(a, b, num_groups=num_groups)
                                             for a, b in zip(widths, widths[1:], strict=False)))
        self.fuse = conv_norm_relu(hidden_channels, out_channels, kernel_size=1,
                                   num_groups=num_groups)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """``features``: ``num_levels`` maps ``(N, F_in, H_l, W_l)``, finest (P2) first ->
        the mask features ``(N, E, H_0, W_0)`` at the finest level's size."""
        if len(features) != self.num_levels:
            raise ValueError(f"the mask-feature branch fuses {self.num_levels} levels, got "
                             f"{len(features)}")
        sizes = [tuple(f.shape[-2:]) for f in features]
        fused = None
        for level, (x, convs) in enumerate(zip(features, self.levels, strict=True)):
            if level == self.num_levels - 1 and level > 0:
                x = with_coordinates(x)  # (N, F_in + 2, H_l, W_l)
            # conv, then 2x up to the next finer level, until P2's size
            for step, conv in enumerate(convs):
                x = conv(x)
                if level > 0:
                    x = F.interpolate(x, size=sizes[level - step - 1], mode="bilinear",
                                      align_corners=False)
            fused = x if fused is None else fused + x  # (N, hidden, H_0, W_0)
        return self.fuse(fused)  # (N, E, H_0, W_0)
