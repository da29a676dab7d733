"""The unit every SOLOv2 branch is built of: a convolution without bias, GroupNorm, ReLU.

SOLOv2's code (mmdetection's ``ConvModule`` with ``norm_cfg=GN(32)``, read for this) uses
GroupNorm in all three branches, which keeps them independent of the batch size; the
convolution needs no bias before a norm. Weights are drawn from ``N(0, 0.01^2)``, as
mmdetection initialises the heads.
"""

from __future__ import annotations

from torch import nn

__all__ = ["conv_norm_relu"]


def conv_norm_relu(in_channels: int, out_channels: int, *, kernel_size: int = 3,
                   num_groups: int = 32) -> nn.Sequential:
    """``conv(k x k, no bias) -> GroupNorm(num_groups) -> ReLU``, keeping the spatial size."""
    if out_channels % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the {out_channels} channels")
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    nn.init.normal_(conv.weight, std=0.01)
    return nn.Sequential(conv, nn.GroupNorm(num_groups, out_channels), nn.ReLU(inplace=True))
