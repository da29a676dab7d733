"""Feature Pyramid Network (Lin et al., CVPR 2017): strong features at every scale.

A backbone's stages ``C2..C5`` (strides 4, 8, 16, 32) grow ever deeper and coarser: the deep ones
know *what* is in the image, the shallow ones *where*. The FPN gives every scale both. Each stage
gets a **lateral** 1x1 convolution to a common width ``out_channels``; going down from the
coarsest, the map above is upsampled (nearest neighbour, x2) and **added** to the lateral of the
level below; a 3x3 convolution then smooths each sum into the output ``P_l``::

    C5 -> 1x1 ------------------------------> M5 -> 3x3 -> P5
    C4 -> 1x1 -> + <- upsample(M5)            M4 -> 3x3 -> P4
    C3 -> 1x1 -> + <- upsample(M4)            M3 -> 3x3 -> P3
    C2 -> 1x1 -> + <- upsample(M3)            M2 -> 3x3 -> P2

Extra levels come after: Faster/Mask R-CNN add ``P6`` by subsampling ``P5`` (for the largest
anchors only), RetinaNet and YOLACT add ``P6`` and ``P7`` by strided 3x3 convolutions.

Parameter names follow torchvision's ``FeaturePyramidNetwork`` (``inner_blocks.i.0``,
``layer_blocks.i.0``, ``p6``, ``p7``) and :class:`BackboneWithFPN` torchvision's
``backbone.body`` / ``backbone.fpn``, so a torchvision state dict loads as it is.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import ResNet

__all__ = ["FeaturePyramidNetwork", "LastLevelMaxPool", "LastLevelP6P7", "BackboneWithFPN"]


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A convolution that keeps the size at stride 1, initialised as the FPN paper's code (Kaiming
    uniform with a = 1, zero bias)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     padding=kernel_size // 2)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    nn.init.zeros_(conv.bias)
    return conv


class LastLevelMaxPool(nn.Module):
    """Faster/Mask R-CNN's extra level ``"pool"``: ``P6 = P5[::2, ::2]`` (a max pooling of
    size 1)."""

    names = ("pool",)

    def forward(self, p: list[torch.Tensor], c: list[torch.Tensor]) -> list[torch.Tensor]:
        return [F.max_pool2d(p[-1], kernel_size=1, stride=2)]


class LastLevelP6P7(nn.Module):
    """RetinaNet's extra levels: ``P6 = conv3x3/2(x)``, ``P7 = conv3x3/2(relu(P6))``.

    ``x`` is ``P5`` when ``in_channels == out_channels`` (torchvision's choice then), else ``C5``
    (the RetinaNet paper's).
    """

    names = ("p6", "p7")

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.p6 = _conv(in_channels, out_channels, 3, stride=2)
        self.p7 = _conv(out_channels, out_channels, 3, stride=2)
        self.use_p5 = in_channels == out_channels

    def forward(self, p: list[torch.Tensor], c: list[torch.Tensor]) -> list[torch.Tensor]:
        p6 = self.p6(p[-1] if self.use_p5 else c[-1])
        return [p6, self.p7(F.relu(p6))]


class FeaturePyramidNetwork(nn.Module):
    """Lateral 1x1 convolutions, top-down upsampling and addition, 3x3 output convolutions.

    Args (keyword-only):
        in_channels_list: channels of the input maps, finest first (e.g. ResNet-50's
            ``(256, 512, 1024, 2048)``).
        out_channels: channels of every output map (256 in the paper).
        extra_blocks: :class:`LastLevelMaxPool`, :class:`LastLevelP6P7` or ``None``.

    ``forward(features)``: an ordered dict ``{name: (N, C_l, H_l, W_l)}``, finest first ->
    an ordered dict ``{name: (N, out_channels, H_l, W_l)}`` with the same names, then the extra
    blocks' (``"pool"``, or ``"p6"`` and ``"p7"``).
    """

    def __init__(self, *, in_channels_list: list[int] | tuple[int, ...], out_channels: int,
                 extra_blocks: nn.Module | None = None) -> None:
        super().__init__()
        if not in_channels_list or any(c <= 0 for c in in_channels_list):
            raise ValueError("in_channels_list must be positive channel counts, got "
                             f"{in_channels_list!r}")
        # one Sequential per level, as torchvision (keys inner_blocks.i.0.weight)
        self.inner_blocks = nn.ModuleList(nn.Sequential(_conv(c, out_channels, 1))
                                          for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(nn.Sequential(_conv(out_channels, out_channels, 3))
                                          for _ in in_channels_list)
        self.extra_blocks = extra_blocks
        self.out_channels = out_channels

    def forward(self, features: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        names, c = list(features), list(features.values())
        if len(c) != len(self.inner_blocks):
            raise ValueError(f"the FPN was built for {len(self.inner_blocks)} maps, got {len(c)}")
        # the coarsest level: lateral only
        merged = self.inner_blocks[-1](c[-1])  # M_top (N, out, H_top, W_top)
        p = [self.layer_blocks[-1](merged)]
        # down the pyramid: lateral + nearest-upsampled coarser sum, then the 3x3 smoothing
        for level in range(len(c) - 2, -1, -1):
            lateral = self.inner_blocks[level](c[level])  # (N, out, H_l, W_l)
            merged = lateral + F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
            p.insert(0, self.layer_blocks[level](merged))
        if self.extra_blocks is not None:
            p += self.extra_blocks(p, c)
            names += list(self.extra_blocks.names)
        return OrderedDict(zip(names, p, strict=True))


class BackboneWithFPN(nn.Module):
    """A ResNet's stages ``layer1..layer4`` (or the last ``len(in_channels_list)`` of them) and an
    FPN on top: ``(N, 3, H, W)`` -> ``{"0": P2, "1": P3, ...}`` plus the extra levels.

    Args (keyword-only):
        body: a :class:`~segedu.nn.resnet.ResNet` (its classifier is not used).
        returned_stages: which stages feed the FPN, from 1 (``layer1``, stride 4) to 4.
        out_channels: the FPN's width.
        extra_blocks: as :class:`FeaturePyramidNetwork`.

    ``out_channels`` is read by the heads; the keys ``body.*`` and ``fpn.*`` match torchvision's
    ``BackboneWithFPN``.
    """

    def __init__(self, *, body: ResNet, returned_stages: tuple[int, ...] = (1, 2, 3, 4),
                 out_channels: int = 256,
                 extra_blocks: nn.Module | None = None) -> None:
        super().__init__()
        if not returned_stages or any(s not in (1, 2, 3, 4) for s in returned_stages):
            raise ValueError(f"returned_stages must be among 1, 2, 3, 4, got {returned_stages!r}")
        if hasattr(body, "fc"):  # torchvision's body has no classifier: drop it so the keys match
            del body.fc, body.avgpool
        self.body = body
        self.returned_stages = tuple(returned_stages)
        self.fpn = FeaturePyramidNetwork(
            in_channels_list=[body.stage_channels[s - 1] for s in self.returned_stages],
            out_channels=out_channels, extra_blocks=extra_blocks)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        stages = self.body.forward_stages(x)  # strides 4, 8, 16, 32
        features = OrderedDict((str(i), stages[s - 1]) for i, s in enumerate(self.returned_stages))
        return self.fpn(features)
