r"""OneFormer's backbone: the Swin Transformer's four stages, each output LayerNorm-ed.

OneFormer's published models use Swin-T and Swin-L (Liu et al., ICCV 2021), ConvNeXt-L and
DiNAT-L backbones; this is the Swin one, as ``transformers``' ``SwinBackbone`` and the original's
``D2SwinTransformer`` give it to the pixel decoder::

    images (B, 3, H, W)
      -> Swin stages 1 .. 4           (B, C_i, H/s, W/s), s = 4, 8, 16, 32   (:mod:`segedu.nn.swin`)
      -> LayerNorm of each stage's map, over the channels                    (``norms.{i}``)

The Swin Transformer is segedu's (:class:`segedu.nn.swin.SwinTransformer` without its classifier);
the per-stage LayerNorms are the backbone's own (the classifier normalises only the last stage).

Relation to ``transformers``' ``SwinBackbone``: the same parameters (converted by :mod:`.convert`:
its separate query, key and value projections stacked into ``qkv``, its patch merging at the end
of stage ``i`` is segedu's at the start of stage ``i + 1``; its unused final ``layernorm`` is
dropped) and the same outputs whenever every stage's grid is a multiple of the window.
Otherwise they differ: ``transformers`` shrinks the window to a smaller grid (as the paper's
code), segedu pads the grid to the window (as torchvision, :mod:`segedu.nn.swin.window_attention`).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.swin import SwinTransformer

__all__ = ["SwinBackbone"]


class SwinBackbone(nn.Module):
    """``images (B, 3, H, W)`` (normalised) -> four maps ``(B, C_i, H/s, W/s)``.

    Args (keyword-only):
        embed_dim, depths, num_heads, window_size, mlp_ratio, drop_path_rate: of
            :class:`segedu.nn.swin.SwinTransformer` (Swin-T: 96, (2, 2, 6, 2), (3, 6, 12, 24), 7;
            Swin-L: 192, (2, 2, 18, 2), (6, 12, 24, 48), 12).
    """

    def __init__(self, *, embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: tuple[int, ...] = (3, 6, 12, 24), window_size: int = 7,
                 mlp_ratio: float = 4.0, drop_path_rate: float = 0.3) -> None:
        super().__init__()
        self.swin = SwinTransformer(embed_dim=embed_dim, depths=tuple(depths),
                                    num_heads=tuple(num_heads), window_size=window_size,
                                    mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate,
                                    include_top=False)
        self.stage_channels = self.swin.stage_channels
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in self.stage_channels)

    def forward_stages(self, images: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for x, norm in zip(self.swin.forward_stages(images), self.norms, strict=True):
            # LayerNorm over the channels of every position: (B, C_i, h, w)
            maps.append(norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous())
        return maps
