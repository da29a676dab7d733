"""Panoptic FPN's semantic branch (Kirillov, Girshick, He and Dollár, CVPR 2019, Fig. 3).

The branch reads every level of the feature pyramid that the detector already computes and
merges them at 1/4 of the image size:

1. **One tower per level.** A level of stride ``s`` goes through ``log2(s / 4)`` stages of
   3x3 convolution (``conv_dims`` channels), GroupNorm, ReLU and 2x bilinear up-sampling, so
   that every tower ends at stride 4 (the stride-4 level gets one stage, without up-sampling).
2. **Sum.** The four towers' outputs are added element-wise.
3. **Classify.** A 1x1 convolution gives ``num_classes`` logits per pixel at stride 4; they are
   up-sampled 4x (bilinear) before the loss and at inference.

The classes are the *stuff* classes plus one "other" class (index 0 here) for every pixel of a
*thing*: the branch does not tell things apart, the instance branch does. This is the head of
detectron2's ``SemSegFPNHead`` (the paper's authors' code), written out here; the weights are
initialised as its MSRA fill (Kaiming normal, fan out, zero bias).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SemanticFPNHead"]


class SemanticFPNHead(nn.Module):
    """Merge FPN levels ``{name: (B, in_channels, H/s, W/s)}`` into ``(B, num_classes, H/4, W/4)``
    logits.

    Args (keyword-only):
        in_channels: the FPN's width (every level has the same).
        num_classes: stuff classes + 1 ("other", all thing pixels).
        feature_strides: ``{level name: stride}``, e.g. ``{"0": 4, "1": 8, "2": 16, "3": 32}``.
        conv_dims: width of the towers (128 in the paper).
        num_groups: GroupNorm groups (32 in the paper; must divide ``conv_dims``).
        common_stride: the stride of the merged map (4).
    """

    def __init__(self, *, in_channels: int, num_classes: int, feature_strides: Mapping[str, int],
                 conv_dims: int = 128, num_groups: int = 32, common_stride: int = 4) -> None:
        super().__init__()
        if conv_dims % num_groups:
            raise ValueError(f"num_groups ({num_groups}) must divide conv_dims ({conv_dims})")
        if num_classes < 2:
            raise ValueError("num_classes counts the 'other' class too and must be >= 2, got "
                             f"{num_classes}")
        self.in_features: Sequence[str] = tuple(feature_strides)
        self.common_stride = common_stride
        self.towers = nn.ModuleDict()
        for name, stride in feature_strides.items():
            if stride < common_stride or stride & (stride - 1):
                raise ValueError(f"level {name!r}: stride {stride} must be a power of 2 >= "
                                 f"{common_stride}")
            stages = []
            for k in range(max(1, int(math.log2(stride // common_stride)))):
                stages += [nn.Conv2d(in_channels if k == 0 else conv_dims, conv_dims, 3, padding=1,
                                     bias=False),
                           nn.GroupNorm(num_groups, conv_dims), nn.ReLU(inplace=True)]
                if stride != common_stride:  # every stage but the stride-4 level's doubles the size
                    stages.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.towers[name] = nn.Sequential(*stages)
        self.predictor = nn.Conv2d(conv_dims, num_classes, 1)
        for module in self.modules():  # MSRA fill, as detectron2
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``features`` ``{name: (B, C, H/s, W/s)}`` -> logits ``(B, num_classes, H/4, W/4)``."""
        missing = [name for name in self.in_features if name not in features]
        if missing:
            raise ValueError(f"the semantic head needs FPN levels {list(self.in_features)}; "
                             f"missing {missing}")
        merged = None
        for name in self.in_features:
            # 1. one tower per level, each ending at stride 4
            x = self.towers[name](features[name])
            # 2. element-wise sum
            merged = x if merged is None else merged + x
        # 3. per-pixel class logits
        return self.predictor(merged)

    def upsample(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, K, H/4, W/4)`` -> ``(B, K, H, W)``: bilinear, by the common stride."""
        return F.interpolate(logits, scale_factor=self.common_stride, mode="bilinear",
                             align_corners=False)
