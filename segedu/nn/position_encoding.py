r"""The sine positional encoding of DETR, used by Mask2Former's pixel decoder and
transformer decoder.

Attention is blind to where a feature sits in the image: it compares *what* tokens are, not where
they are. DETR (Carion et al., ECCV 2020) adds to every pixel feature a fixed code of its position,
the 2-D generalisation of the sine code of "Attention Is All You Need". For a pixel in row ``y``,
column ``x`` of an ``H x W`` map (both counted from 1), with ``normalize=True``::

    y' = y / H * 2 pi,    x' = x / W * 2 pi                 (positions in (0, 2 pi])
    t_k = temperature ** (2 * floor(k / 2) / F),   k = 0 .. F - 1
    code_y = [sin(y' / t_0), cos(y' / t_1), sin(y' / t_2), cos(y' / t_3), ...]   (F numbers)
    code_x = the same with x'
    pos = concat(code_y, code_x)                              (2F channels)

Low ``k`` gives fast-varying sines (fine position), high ``k`` slow ones (coarse position).
Mask2Former uses ``F = hidden_dim / 2`` so that the code has as many channels as the features.

Relation to the references: identical arithmetic to the original ``PositionEmbeddingSine`` of
facebookresearch/Mask2Former (copied from DETR, *without* Deformable DETR's ``- 0.5`` offset) and to
``transformers``' ``Mask2FormerSinePositionEmbedding``. Like the original, the code is computed in
float32 (float64 for float64 features) and then cast to the features' dtype; ``transformers``
computes it in the features' dtype, which differs only under fp16/bf16. The original accepts a
padding mask; Mask2Former never passes one, so it is left out here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine code of the pixel positions: ``(B, C, H, W) -> (B, 2 * num_pos_feats, H, W)``.

    Only the shape, device and dtype of the input are used, not its values.

    Args (keyword-only):
        num_pos_feats: ``F``, the channels of each of the y and x codes (``hidden_dim // 2``).
        temperature: the base of the geometric progression of wavelengths.
        normalize: scale positions to ``(0, scale]`` (Mask2Former: ``True``), so that the code does
            not depend on the image size.
        scale: the range of the normalised positions (``2 pi``).
    """

    def __init__(self, *, num_pos_feats: int = 64, temperature: float = 10000.0,
                 normalize: bool = True,
                 scale: float | None = None) -> None:
        super().__init__()
        if (isinstance(num_pos_feats, bool) or not isinstance(num_pos_feats, int)
            or num_pos_feats < 1):
            raise ValueError(f"num_pos_feats must be a positive int, got {num_pos_feats!r}")
        if num_pos_feats % 2:
            raise ValueError("num_pos_feats must be even (sines and cosines alternate), got "
                             f"{num_pos_feats}")
        if scale is not None and not normalize:
            raise ValueError("scale only applies with normalize=True")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W)`` (values unused) -> ``pos (B, 2 * num_pos_feats, H, W)``."""
        if x.ndim != 4:
            raise ValueError(f"x must be a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        batch, _, height, width = x.shape
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # never below float32
        # 1. row and column numbers counted from 1: (B, H, W) each (a cumulative sum of ones)
        ones = torch.ones(batch, height, width, dtype=dtype, device=x.device)
        y_embed = ones.cumsum(1)
        x_embed = ones.cumsum(2)
        # 2. optionally normalised to (0, 2 pi]: the last row / column maps to 2 pi
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        # 3. the wavelengths t_k = temperature ** (2 floor(k/2) / F): (F,)
        dim_t = torch.arange(self.num_pos_feats, dtype=dtype, device=x.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor")
                                     / self.num_pos_feats)
        # 4. sine on even channels, cosine on odd ones, interleaved: (B, H, W, F) each
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()),
                            dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()),
                            dim=4).flatten(3)
        # 5. y code first, then x code, channels first: (B, 2F, H, W)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        return pos.to(x.dtype)
