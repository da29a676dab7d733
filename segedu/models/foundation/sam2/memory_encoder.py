"""SAM 2's memory encoder (Ravi et al., "SAM 2", 2024, section 4): a frame's image embedding and
its predicted mask -> a *spatial memory* for later frames.

::

    mask (B, 1, S, S), scaled to [-10, 10]     (sigmoid of the logits, or 0/1 for clicked frames)
      -> mask downsampler: log2(16)/log2(2) = 4 x [3x3 conv stride 2, LayerNorm2d, GELU]
         (channels x4 each time: 1, 4, 16, 64, 256), then a 1 x 1 conv to C      (B, C, S/16, S/16)
    features = pix_feat_proj(image embedding) + downsampled mask
      -> fuser: 2 ConvNeXt blocks (7 x 7 depthwise conv, LayerNorm2d, 1x1 up, GELU, 1x1 down,
         layer scale gamma, residual)
      -> out_proj: 1 x 1 conv to mem_dim (64)                                 (B, mem_dim, h, w)
    position code: DETR's sine code of the h x w grid                          (B, mem_dim, h, w)

The memory is small (64 channels against the embedding's 256) so many frames fit in the bank.
Names follow facebookresearch/sam2's ``MemoryEncoder``, ``MaskDownSampler`` (``encoder``, a
``Sequential``), ``Fuser`` and ``CXBlock`` (``dwconv``, ``norm``, ``pwconv1``, ``pwconv2``,
``gamma``: the names of :class:`segedu.nn.convnext.ConvNeXtBlock`, which the fuser uses);
results are those of ``transformers``' ``Sam2VideoMemoryEncoder`` (tested through the video
model).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ....nn.convnext.block import ConvNeXtBlock
from ....nn.layer_norm_2d import LayerNorm2d
from ....nn.position_encoding import PositionEmbeddingSine

__all__ = ["MaskDownSampler", "Fuser", "MemoryEncoder"]


class MaskDownSampler(nn.Module):
    """Mask ``(B, 1, S, S)`` -> ``(B, embed_dim, S / total_stride, S / total_stride)``.

    Args (keyword-only):
        embed_dim: output channels (C, 256).
        kernel_size, stride, padding: of each strided conv (3, 2, 1).
        total_stride: the overall downsampling (16, the image embedding's stride).
    """

    def __init__(self, *, embed_dim: int, kernel_size: int = 3, stride: int = 2,
                 padding: int = 1, total_stride: int = 16) -> None:
        super().__init__()
        num_layers = int(math.log2(total_stride) // math.log2(stride))
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(num_layers):
            out = channels * stride**2
            layers += [nn.Conv2d(channels, out, kernel_size, stride=stride, padding=padding),
                       LayerNorm2d(num_channels=out), nn.GELU()]
            channels = out
        layers.append(nn.Conv2d(channels, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class Fuser(nn.Module):
    """``num_layers`` ConvNeXt blocks in a row (:class:`segedu.nn.convnext.ConvNeXtBlock`, which
    has the names of SAM 2's ``CXBlock``): ``(B, C, h, w)`` -> same."""

    def __init__(self, *, dim: int, hidden_dim: int, num_layers: int = 2, kernel_size: int = 7,
                 layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            ConvNeXtBlock(dim=dim, hidden_dim=hidden_dim, kernel_size=kernel_size,
                          layer_scale_init_value=layer_scale_init_value)
            for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """Image embedding ``(B, C, h, w)`` and scaled mask ``(B, 1, 16h, 16w)`` -> memory
    ``(B, mem_dim, h, w)`` and its position code (same shape); module docstring.

    Args (keyword-only):
        in_dim: channels ``C`` of the image embedding (256).
        out_dim: ``mem_dim`` (64).
        fuser_hidden_dim: the ConvNeXt MLP width (1024).
        fuser_layers: ConvNeXt blocks (2).
        fuser_kernel_size: their depthwise kernel (7).
    """

    def __init__(self, *, in_dim: int, out_dim: int, fuser_hidden_dim: int,
                 fuser_layers: int = 2, fuser_kernel_size: int = 7) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(embed_dim=in_dim)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(dim=in_dim, hidden_dim=fuser_hidden_dim, num_layers=fuser_layers,
                           kernel_size=fuser_kernel_size)
        self.position_encoding = PositionEmbeddingSine(num_pos_feats=out_dim // 2, normalize=True)
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1)

    def forward(self, pix_feat: torch.Tensor, masks: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        masks = self.mask_downsampler(masks)
        x = self.pix_feat_proj(pix_feat) + masks
        x = self.out_proj(self.fuser(x))
        return x, self.position_encoding(x)
