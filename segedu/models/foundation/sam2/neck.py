"""SAM 2's feature pyramid neck (Ravi et al., "SAM 2", 2024, appendix; Lin et al., "Feature
Pyramid Networks", CVPR 2017): Hiera's four stage outputs to maps of one width ``d_model``.

Each stage's map gets a 1 x 1 convolution to ``d_model`` channels (a *lateral*). Going from the
coarsest map to the finest, a level listed in ``fpn_top_down_levels`` adds the level above it,
upsampled x2 by nearest neighbour (the *top-down* path); SAM 2 does this only for the two
coarsest levels (``(2, 3)``), so the stride-16 map, the image embedding, also sees stride-32
context, while the stride-4 and stride-8 maps stay plain laterals (they feed the mask decoder's
upsampling as high-resolution skips). Every level gets DETR's sine position code
(:class:`~segedu.nn.position_encoding.PositionEmbeddingSine`).

Names follow facebookresearch/sam2's ``FpnNeck`` (``convs.{i}`` is its ``convs.{i}.conv``);
results are those of ``transformers``' ``Sam2VisionNeck`` (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ....nn.position_encoding import PositionEmbeddingSine

__all__ = ["FpnNeck"]


class FpnNeck(nn.Module):
    """Stage maps (finest first) -> ``(features, positions)``, lists of ``(B, d_model, H_s, W_s)``
    maps, finest first.

    Args (keyword-only):
        d_model: output width (256 in SAM 2).
        backbone_channel_list: the stage widths, *coarsest first* (tiny: ``(768, 384, 192, 96)``).
        fpn_top_down_levels: the levels (0 = finest) that add the upsampled coarser level.
    """

    def __init__(self, *, d_model: int, backbone_channel_list: Sequence[int],
                 fpn_top_down_levels: Sequence[int] = (2, 3)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, d_model, kernel_size=1)
                                   for c in backbone_channel_list)
        self.fpn_top_down_levels = tuple(fpn_top_down_levels)
        self.position_encoding = PositionEmbeddingSine(num_pos_feats=d_model // 2, normalize=True)

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if len(xs) != len(self.convs):
            raise ValueError(f"expected {len(self.convs)} stage maps, got {len(xs)}")
        n = len(xs) - 1
        features: list[torch.Tensor] = [None] * len(xs)  # type: ignore[list-item]
        positions: list[torch.Tensor] = [None] * len(xs)  # type: ignore[list-item]
        previous = None
        # from the coarsest level (n) to the finest (0); convs are listed coarsest first
        for level in range(n, -1, -1):
            lateral = self.convs[n - level](xs[level])
            if level in self.fpn_top_down_levels and previous is not None:
                # top-down: the coarser level, upsampled x2, added to the lateral
                top_down = F.interpolate(previous.float(), scale_factor=2.0, mode="nearest")
                previous = lateral + top_down.to(lateral.dtype)
            else:
                previous = lateral
            features[level] = previous
            positions[level] = self.position_encoding(previous)
        return features, positions
