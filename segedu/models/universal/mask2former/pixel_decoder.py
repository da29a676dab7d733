r"""Mask2Former's pixel decoder, ``MSDeformAttnPixelDecoder``: backbone features ->
multi-scale features.

The pixel decoder turns the backbone's four maps ``res2 .. res5`` (strides 4, 8, 16, 32) into

- three ``C``-channel maps at strides 32, 16, 8 (lowest resolution first), the keys and values of
  the transformer decoder's masked attention, and
- the **mask features** ``(B, D, H/4, W/4)``, the per-pixel embeddings that each query's mask
  embedding is dotted with to give its mask.

::

    res5, res4, res3 --1x1 conv + GroupNorm--> C channels, + sine position + level embedding
                     --deformable transformer encoder (all three levels at once)--> out[0..2]
    res2 --1x1 conv + GN (lateral)--> + upsample(out[2]) --3x3 conv + GN + ReLU--> out[3] (stride 4)
    mask features = 1x1 conv(out[3])

The encoder lets every position at strides 8-32 gather context across scales (this replaces the
top-down pathway of an FPN); only the stride-4 level is added FPN-style, since attention over the
~65,000 tokens of a 1024 px image at stride 4 would be too expensive.

Relation to the references: the same modules (names included: ``input_proj``, ``transformer``,
``adapter_1``, ``layer_1``, ``mask_features``), initialisation and arithmetic as
facebookresearch/Mask2Former's ``MSDeformAttnPixelDecoder`` with ``IN_FEATURES res2..res5``,
``DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES res3..res5`` and ``COMMON_STRIDE 4`` (the paper's
configuration; other choices are left out), and as ``transformers``' ``Mask2FormerPixelDecoder``
(whose parameter names differ: ``input_projections``, ``encoder``, ``adapter_1.0``, ``layer_1.0``,
``mask_projection``, and which holds ``level_embed`` itself). The upsampling is bilinear in both
references, although a comment there says "nearest, following FPN". The original runs this module
in float32 even under mixed precision (``autocast(enabled=False)``); segedu leaves that to the
caller. Initialisation follows the original (Xavier for the input projections, detectron2's
``c2_xavier_fill`` for ``adapter_1``, ``layer_1`` and ``mask_features``); ``transformers`` draws
the latter three from ``N(0, 0.02)``, its ``PreTrainedModel`` default. This matters only when
training from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ....nn.position_encoding import PositionEmbeddingSine
from .deformable_encoder import MSDeformAttnTransformerEncoderOnly

__all__ = ["ConvNorm", "MSDeformAttnPixelDecoder"]


class ConvNorm(nn.Conv2d):
    """A convolution followed by a normalisation (and an activation), as detectron2's ``Conv2d``.

    Being a ``Conv2d`` subclass with a ``norm`` child gives the checkpoint's names ``weight`` and
    ``norm.weight``. ``(B, C_in, H, W) -> (B, C_out, H', W')``.
    """

    def __init__(self, *, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 bias: bool = False,
                 norm: nn.Module | None = None, activation: nn.Module | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self.norm = norm
        self.activation = activation
        # c2_xavier_fill of detectron2 (Caffe2's "XavierFill"): He uniform with a = 1, zero bias
        nn.init.kaiming_uniform_(self.weight, a=1)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class MSDeformAttnPixelDecoder(nn.Module):
    """Backbone maps -> mask features and three multi-scale maps (see the module docstring).

    Args (keyword-only):
        in_channels: channels of ``res2, res3, res4, res5`` (e.g. ``(256, 512, 1024, 2048)``
            for ResNet-50).
        conv_dim: ``C``, the width of the projections and of the encoder (256 in the paper).
        mask_dim: ``D``, the channels of the mask features (256).
        num_encoder_layers: deformable encoder layers (6).
        encoder_ffn_dim: feed-forward width of the encoder (1024).
        num_heads: attention heads of the encoder (8).
        num_points: sampling points per head and level (4).
        num_groups: groups of the GroupNorms (32; must divide ``conv_dim``).
    """

    num_levels = 3  # the encoder always works on res3, res4, res5

    def __init__(self, *, in_channels: Sequence[int], conv_dim: int = 256, mask_dim: int = 256,
                 num_encoder_layers: int = 6, encoder_ffn_dim: int = 1024, num_heads: int = 8,
                 num_points: int = 4,
                 num_groups: int = 32) -> None:
        super().__init__()
        if len(in_channels) != 4:
            raise ValueError("in_channels must give the channels of res2..res5 (4 numbers), got "
                             f"{in_channels!r}")
        if conv_dim % num_groups:
            raise ValueError(f"conv_dim ({conv_dim}) must be divisible by num_groups "
                             f"({num_groups})")
        if conv_dim % 4:
            raise ValueError("conv_dim must be a multiple of 4 (its positional code has 2 x "
                             "conv_dim / 2 channels of alternating sines and cosines), got "
                             f"{conv_dim}")
        self.in_channels = tuple(in_channels)
        # 1. input projections of res5, res4, res3 (lowest resolution first): 1x1 conv + GroupNorm
        self.input_proj = nn.ModuleList()
        for channels in self.in_channels[:0:-1]:
            proj = nn.Sequential(nn.Conv2d(channels, conv_dim, kernel_size=1),
                                 nn.GroupNorm(num_groups, conv_dim))
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
            self.input_proj.append(proj)
        # 2. the deformable transformer encoder over the three levels, and its positional code
        self.transformer = MSDeformAttnTransformerEncoderOnly(dim=conv_dim,
                                                              num_layers=num_encoder_layers,
                                                              ffn_dim=encoder_ffn_dim,
                                                              num_levels=self.num_levels,
                                                              num_heads=num_heads,
                                                              num_points=num_points)
        self.pe_layer = PositionEmbeddingSine(num_pos_feats=conv_dim // 2, normalize=True)
        # 3. the 1x1 projection to the mask features
        self.mask_features = ConvNorm(in_channels=conv_dim, out_channels=mask_dim, kernel_size=1,
                                      bias=True)
        # 4. the FPN level at stride 4: lateral 1x1 conv on res2, output 3x3 conv (both GN, no bias)
        self.adapter_1 = ConvNorm(in_channels=self.in_channels[0], out_channels=conv_dim,
                                  kernel_size=1,
                                  norm=nn.GroupNorm(num_groups, conv_dim))
        self.layer_1 = ConvNorm(in_channels=conv_dim, out_channels=conv_dim, kernel_size=3,
                                padding=1,
                                norm=nn.GroupNorm(num_groups, conv_dim), activation=nn.ReLU())

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``[res2, res3, res4, res5]``, each ``(B, C_i, H/s, W/s)`` for ``s = 4, 8, 16, 32`` ->

        ``mask_features (B, D, H/4, W/4)`` and ``multi_scale_features``: three ``(B, C, h, w)`` maps
        at strides 32, 16, 8 (lowest resolution first).
        """
        if len(features) != 4:
            raise ValueError(f"features must be [res2, res3, res4, res5], got {len(features)} maps")
        for i, (f, channels) in enumerate(zip(features, self.in_channels, strict=True)):
            if f.ndim != 4 or f.shape[1] != channels:
                raise ValueError(f"features[{i}] (res{i + 2}) must be (B, {channels}, h, w), got "
                                 f"{tuple(f.shape)}")
        # 1. project res5, res4, res3 to C channels; their positional codes
        srcs, pos = [], []
        for proj, x in zip(self.input_proj, features[:0:-1], strict=True):
            srcs.append(proj(x))  # (B, C, h_l, w_l)
            pos.append(self.pe_layer(x))  # (B, C, h_l, w_l)
        # 2. deformable encoder over the three levels at once: (B, S, C)
        tokens, spatial_shapes = self.transformer(srcs, pos)
        # 3. cut the sequence back into maps: strides 32, 16, 8
        batch = tokens.shape[0]
        out = [t.transpose(1, 2).reshape(batch, -1, h, w)
               for t, (h, w) in zip(tokens.split([h * w for h, w in spatial_shapes], dim=1),
                                    spatial_shapes, strict=True)]
        # 4. stride 4, FPN-style: lateral(res2) + upsampled stride-8 output, then a 3x3 conv
        lateral = self.adapter_1(features[0])  # (B, C, H/4, W/4)
        y = lateral + F.interpolate(out[-1], size=lateral.shape[-2:], mode="bilinear",
                                    align_corners=False)
        out.append(self.layer_1(y))
        # 5. the per-pixel mask embeddings from the stride-4 map; the three coarse maps for
        #    the decoder
        return self.mask_features(out[-1]), out[: self.num_levels]
