"""ConvNeXt (Liu et al., "A ConvNet for the 2020s", CVPR 2022, https://arxiv.org/abs/2201.03545):
a ResNet modernised step by step with the design choices of vision Transformers, as a classifier
and as a backbone of four feature maps.

::

    image (B, 3, H, W)
      stage 1: patchify stem 4x4/4, 3 blocks        -> res2 (B, 96,  H/4,  W/4)
      stage 2: LayerNorm + conv 2x2/2, 3 blocks     -> res3 (B, 192, H/8,  W/8)
      stage 3: LayerNorm + conv 2x2/2, 9 blocks     -> res4 (B, 384, H/16, W/16)
      stage 4: LayerNorm + conv 2x2/2, 3 blocks     -> res5 (B, 768, H/32, W/32)
      global average pooling, LayerNorm, linear            (B, num_classes)

The paper's road (its Figure 2) from ResNet-50 (78.8% ImageNet top-1 once trained with the
Transformers' recipe, 76.1% as first published) to ConvNeXt-T (82.1% in its Table 1, above
Swin-T's 81.3% at the same 4.5 GFLOPs): the stage ratio 1:1:3:1, the patchify
stem, depthwise convolutions with more width, the inverted bottleneck, 7 x 7 kernels, GELU,
fewer activations and norms, LayerNorm instead of BatchNorm, separate downsampling layers.

Parameters carry the paper's code's names within each block (``dwconv``, ``pwconv1``, ...) and
segedu's around them (``stages.<i>.downsample``, ``stages.<i>.blocks.<j>``, ``norm``, ``head``);
:func:`~segedu.nn.convnext.convert.convert_torchvision_convnext` renames a
``torchvision.models.convnext_tiny`` state dict to them
(tests/models/classification/test_convnext.py).
"""

from __future__ import annotations

import torch
from torch import nn

from ..backbone import Backbone
from .stage import ConvNeXtStage

__all__ = ["ConvNeXt", "convnext_tiny"]


class ConvNeXt(Backbone):
    """``forward(images (B, 3, H, W))`` -> logits ``(B, num_classes)``;
    ``forward_stages(images)`` -> the four stages' maps ``(B, C_i, H/s, W/s)``, s = 4, 8, 16, 32.

    Args (keyword-only):
        dims: channels of the four stages ((96, 192, 384, 768) for ConvNeXt-T).
        depths: blocks per stage ((3, 3, 9, 3)).
        drop_path_rate: stochastic depth of the last block, growing linearly from 0 (0.1 for
            ConvNeXt-T in torchvision's recipe).
        layer_scale_init_value: initial layer scale (1e-6).
        num_classes: classifier outputs (1000).
        include_top: keep the final norm and the classifier (``False`` for a backbone).
    """

    def __init__(self, *, dims: tuple[int, ...] = (96, 192, 384, 768),
                 depths: tuple[int, ...] = (3, 3, 9, 3), drop_path_rate: float = 0.1,
                 layer_scale_init_value: float = 1e-6, num_classes: int = 1000,
                 include_top: bool = True) -> None:
        super().__init__()
        if len(dims) != len(depths):
            raise ValueError(f"dims {dims} and depths {depths} need one value per stage")
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList(
            ConvNeXtStage(in_channels=3 if i == 0 else dims[i - 1], out_channels=dims[i],
                          depth=depths[i], stem=i == 0,
                          layer_scale_init_value=layer_scale_init_value,
                          drop_path=tuple(rates[sum(depths[:i]):sum(depths[:i + 1])]))
            for i in range(len(dims)))
        self.stage_channels = tuple(dims)
        self.strides = tuple(4 * 2**i for i in range(len(dims)))
        self.out_channels = dims[-1]
        self.include_top = include_top
        if include_top:
            self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
            self.head = nn.Linear(dims[-1], num_classes)
        self.apply(_init_weights)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` -> each stage's output ``(B, C_i, H/s_i, W/s_i)``."""
        maps = []
        for stage in self.stages:
            x = stage(x)  # strides 4, 8, 16, 32
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` (ImageNet-normalised) -> logits ``(B, num_classes)``; without the top,
        the last stage's map ``(B, C_4, H/32, W/32)``."""
        x = self.forward_stages(x)[-1]  # (B, C_4, H/32, W/32)
        if not self.include_top:
            return x
        return self.head(self.norm(x.mean(dim=(2, 3))))  # pool, normalise, classify


def _init_weights(module: nn.Module) -> None:
    """The paper's initialisation: truncated normal (std 0.02) for convolutions and linear
    layers, zero biases."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def convnext_tiny(**kwargs) -> ConvNeXt:
    """ConvNeXt-T: dims ``(96, 192, 384, 768)``, depths ``(3, 3, 9, 3)``; 28,589,128
    parameters with the 1000-class top (torchvision's ``convnext_tiny``: 28,589,128)."""
    return ConvNeXt(**kwargs)
