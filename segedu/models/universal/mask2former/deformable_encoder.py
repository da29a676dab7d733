r"""The deformable-attention transformer encoder of Mask2Former's pixel decoder (Deformable
DETR's encoder).

The three coarsest feature maps (strides 8, 16, 32), projected to ``C`` channels, are flattened
and concatenated into one sequence of ``S = sum_l H_l W_l`` tokens, lowest resolution first. Each
of the ``N`` encoder layers updates every token from the tokens around it *on all three levels*::

    x = LayerNorm(x + MSDeformAttn(query = x + pos, reference = own position, value = x))
    x = LayerNorm(x + Linear(ReLU(Linear(x))))                         (post-norm, as the paper)

``pos`` is the sine code of the token's position plus a learned **level embedding** (one
``C``-vector per level), so that a token knows which scale it lives on. Every token's reference
point is the centre of its own pixel in ``[0, 1]`` coordinates,
``((j + 0.5) / W_l, (i + 0.5) / H_l)``, used on every level: a token at stride 8 and the token
covering the same spot at stride 32 share their reference point.

Relation to the references: same parameters (names included: ``level_embed``,
``encoder.layers.{i}.self_attn``, ``norm1``, ``linear1``, ``linear2``, ``norm2``), initialisation
and arithmetic as the original ``MSDeformAttnTransformerEncoderOnly`` of
facebookresearch/Mask2Former and ``transformers``' ``Mask2FormerPixelDecoderEncoderOnly``. Left out:
dropout (Mask2Former trains with dropout 0), padding masks and valid ratios (the original builds
all-empty padding masks, so its valid ratios are all 1 and drop out of the reference points). Two
differences of ``transformers``, neither in the original: in training it clamps non-finite outputs
of each layer to the dtype's range (a guard for fp16), and it initialises ``linear1``/``linear2``
with ``N(0, 0.02)`` (its ``PreTrainedModel`` default) where the original uses Xavier; segedu follows
the original.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .ms_deform_attn import MSDeformAttn

__all__ = ["MSDeformAttnEncoderLayer", "MSDeformAttnEncoder", "MSDeformAttnTransformerEncoderOnly",
           "reference_points"]


def reference_points(spatial_shapes: Sequence[tuple[int, int]], *,
                     device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Every token's own pixel centre in ``[0, 1]`` coordinates, repeated for every level:
    ``(S, L, 2)``.

    ``S = sum_l H_l W_l`` tokens in sequence order (level by level, row-major), ``(x, y)`` last.
    """
    points = []
    for height, width in spatial_shapes:
        # pixel centres (i + 0.5, j + 0.5), divided by the map size
        ys, xs = torch.meshgrid(torch.linspace(0.5, height - 0.5, height, dtype=dtype,
                                               device=device),
                                torch.linspace(0.5, width - 0.5, width, dtype=dtype, device=device),
                                indexing="ij")
        # (H_l W_l, 2)
        points.append(torch.stack((xs.reshape(-1) / width, ys.reshape(-1) / height), -1))
    return torch.cat(points, 0)[:, None, :].expand(-1, len(spatial_shapes), 2)


class MSDeformAttnEncoderLayer(nn.Module):
    """Deformable self-attention then a feed-forward network, each with residual and LayerNorm.

    ``(B, S, C) -> (B, S, C)``.

    Args (keyword-only):
        dim: ``C``.
        ffn_dim: hidden width of the feed-forward network (1024 in Mask2Former).
        num_levels, num_heads, num_points: of the :class:`~.ms_deform_attn.MSDeformAttn`.
    """

    def __init__(self, *, dim: int = 256, ffn_dim: int = 1024, num_levels: int = 3,
                 num_heads: int = 8,
                 num_points: int = 4) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(dim=dim, num_levels=num_levels, num_heads=num_heads,
                                      num_points=num_points)
        self.norm1 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: Sequence[tuple[int, int]]) -> torch.Tensor:
        """``x, pos (B, S, C)``, ``reference_points (B, S, L, 2)`` -> ``(B, S, C)``."""
        # 1. deformable self-attention: queries carry the position, values do not
        x = self.norm1(x + self.self_attn(x + pos, reference_points, x, spatial_shapes))
        # 2. feed-forward network
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class MSDeformAttnEncoder(nn.Module):
    """A stack of :class:`MSDeformAttnEncoderLayer`: ``(B, S, C) -> (B, S, C)``."""

    def __init__(self, *, num_layers: int, **layer_kwargs) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MSDeformAttnEncoderLayer(**layer_kwargs)
                                    for _ in range(num_layers))

    def forward(self, x: torch.Tensor, pos: torch.Tensor,
                spatial_shapes: Sequence[tuple[int, int]]) -> torch.Tensor:
        # every token's reference point, the same for every image of the batch: (B, S, L, 2)
        points = reference_points(spatial_shapes, device=x.device,
                                  dtype=x.dtype).expand(x.shape[0], -1, -1, -1)
        for layer in self.layers:
            x = layer(x, pos, points, spatial_shapes)
        return x


class MSDeformAttnTransformerEncoderOnly(nn.Module):
    """Flatten ``L`` maps into one sequence, add the level embeddings, run the encoder.

    Args (keyword-only):
        dim: ``C``.
        num_layers: encoder layers (6 in Mask2Former).
        ffn_dim, num_heads, num_points: of each layer.
        num_levels: ``L`` (3).
    """

    def __init__(self, *, dim: int = 256, num_layers: int = 6, ffn_dim: int = 1024,
                 num_levels: int = 3,
                 num_heads: int = 8, num_points: int = 4) -> None:
        super().__init__()
        self.encoder = MSDeformAttnEncoder(num_layers=num_layers, dim=dim, ffn_dim=ffn_dim,
                                           num_levels=num_levels,
                                           num_heads=num_heads, num_points=num_points)
        self.level_embed = nn.Parameter(torch.empty(num_levels, dim))
        self.num_levels = num_levels
        # the original: Xavier for every matrix, Deformable DETR's init for the attention, N(0, 1)
        # level embeddings
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for module in self.modules():
            if isinstance(module, MSDeformAttn):
                module.reset_parameters()
        nn.init.normal_(self.level_embed)

    def forward(self, maps: Sequence[torch.Tensor],
                pos: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """``L`` maps ``(B, C, H_l, W_l)`` and their positional codes (same shapes) ->
        the encoded sequence ``(B, S, C)`` and the ``L`` shapes ``(H_l, W_l)``."""
        if len(maps) != self.num_levels or len(pos) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} maps and positional codes, got "
                             f"{len(maps)} and {len(pos)}")
        spatial_shapes = [(m.shape[-2], m.shape[-1]) for m in maps]
        # 1. flatten each map into tokens: (B, H_l W_l, C), then one sequence (B, S, C)
        tokens = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)
        # 2. positional code plus the level's embedding, flattened the same way
        level_pos = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[level].view(1, 1, -1)
                               for level, p in enumerate(pos)], 1)
        # 3. the deformable encoder
        return self.encoder(tokens, level_pos, spatial_shapes), spatial_shapes
