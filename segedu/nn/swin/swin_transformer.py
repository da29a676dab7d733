"""The Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision Transformer using
Shifted Windows", ICCV 2021, https://arxiv.org/abs/2103.14030), as a classifier and as a
backbone of four feature maps.

::

    image (B, 3, H, W)
      patch embedding 4 x 4                          (B, C,  H/4,  W/4)
      stage 1: 2 blocks                    -> res2   (B, C,  H/4,  W/4)     C = 96 for Swin-T
      stage 2: patch merging, 2 blocks     -> res3   (B, 2C, H/8,  W/8)
      stage 3: patch merging, 6 blocks     -> res4   (B, 4C, H/16, W/16)
      stage 4: patch merging, 2 blocks     -> res5   (B, 8C, H/32, W/32)
      LayerNorm, global average pooling, linear      (B, num_classes)

Attention runs inside 7 x 7 windows whose grid shifts by 3 in every second block, so the cost is
linear in the image area and yet information crosses windows. The pyramid of strides 4 to 32 is
what lets Swin replace a ResNet under FPN, U-Net or Mask2Former heads.

Parameters carry segedu's names (``patch_embed``, ``stages.<i>.downsample``,
``stages.<i>.blocks.<j>.attn``, ``mlp.fc1``);
:func:`~segedu.nn.swin.convert.convert_torchvision_swin` renames a ``torchvision.models.swin_t``
state dict to them, and the two networks then give the same logits
(tests/models/classification/test_swin.py).
"""

from __future__ import annotations

import torch
from torch import nn

from .._utils import int_pair
from ..backbone import Backbone
from .patch_embed import SwinPatchEmbed
from .stage import SwinStage

__all__ = ["SwinTransformer", "swin_t"]


class SwinTransformer(Backbone):
    """``forward(images (B, 3, H, W))`` -> logits ``(B, num_classes)``;
    ``forward_stages(images)`` -> the four stages' maps ``(B, C_i, H/s, W/s)``, s = 4, 8, 16, 32.

    Args (keyword-only):
        embed_dim: channels of stage 1 (``C``; doubled at each stage).
        depths: blocks per stage.
        num_heads: attention heads per stage.
        window_size: ``M`` (int or pair).
        patch_size: side of the embedded patches (4).
        mlp_ratio: MLP width over channels (4).
        drop_path_rate: stochastic depth of the last block; it grows linearly from 0 over the
            blocks (0.2 for Swin-T).
        num_classes: classifier outputs (1000 for ImageNet).
        include_top: keep the final norm and the classifier (``False`` for a backbone).
    """

    def __init__(self, *, embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: tuple[int, ...] = (3, 6, 12, 24), window_size: int | tuple = 7,
                 patch_size: int = 4, mlp_ratio: float = 4.0, drop_path_rate: float = 0.2,
                 num_classes: int = 1000, include_top: bool = True) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {depths} and num_heads {num_heads} need one value per stage")
        window = int_pair(window_size, "window_size")
        self.patch_embed = SwinPatchEmbed(embed_dim=embed_dim, patch_size=patch_size)
        # stochastic depth rising linearly from 0 (first block) to drop_path_rate (last block)
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages, dim = [], embed_dim
        for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            stage = SwinStage(dim=dim, depth=depth, num_heads=heads, window_size=window,
                              downsample=i > 0, mlp_ratio=mlp_ratio,
                              drop_path=tuple(rates[sum(depths[:i]):sum(depths[:i + 1])]))
            stages.append(stage)
            dim = stage.out_channels
        self.stages = nn.ModuleList(stages)
        self.stage_channels = tuple(stage.out_channels for stage in stages)
        self.strides = tuple(patch_size * 2**i for i in range(len(stages)))
        self.out_channels = dim
        self.include_top = include_top
        if include_top:
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, num_classes)
        self.apply(_init_weights)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` -> each stage's output, channels first: ``(B, C_i, H/s_i, W/s_i)``
        (sides rounded as the patch embedding and the merging round them)."""
        x = self.patch_embed(x)  # (B, C, H/4, W/4)
        maps = []
        for stage in self.stages:
            x = stage(x)  # (B, C_i, h, w): strides 4, 8, 16, 32
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` (ImageNet-normalised) -> logits ``(B, num_classes)``; without the top,
        the last stage's map ``(B, 8C, H/32, W/32)``."""
        x = self.forward_stages(x)[-1]  # (B, 8C, H/32, W/32)
        if not self.include_top:
            return x
        x = self.norm(x.permute(0, 2, 3, 1))  # (B, h, w, 8C)
        return self.head(x.mean(dim=(1, 2)))  # average over the grid, then classify


def _init_weights(module: nn.Module) -> None:
    """The paper's code's initialisation: truncated normal (std 0.02) linear weights, zero biases,
    LayerNorm as the identity."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def swin_t(**kwargs) -> SwinTransformer:
    """Swin-T: ``C = 96``, depths ``(2, 2, 6, 2)``, heads ``(3, 6, 12, 24)``, window 7;
    28,288,354 parameters with the 1000-class top (torchvision's ``swin_t``: 28,288,354)."""
    return SwinTransformer(**kwargs)
