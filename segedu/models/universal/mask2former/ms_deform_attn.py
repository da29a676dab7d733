r"""Multi-scale deformable attention (Zhu et al., "Deformable DETR", ICLR 2021), in plain PyTorch.

Ordinary attention lets every query look at every key: on the ``1/8 + 1/16 + 1/32`` feature maps
of a 1024 px image that is ~22,000 tokens, and a 22,000 x 22,000 attention matrix. Deformable
attention lets each query look at a *few sampled points* instead: for each head ``m``, each
feature level ``l`` and each of ``P`` points ``k``, the query predicts

- a **sampling offset** ``Δp_mlk`` (2 numbers, in pixels of level ``l``) from its reference point
  ``p`` (its own position, in ``[0, 1]`` coordinates, the same on every level), and
- an **attention weight** ``A_mlk``, normalised by a softmax over the ``L * P`` points of the head,

and the output is the weighted sum of the (projected) values read, by bilinear interpolation, at
those locations::

    out_m = sum_l sum_k A_mlk * V_ml( p + Δp_mlk / (W_l, H_l) )          (per head m)
    out   = W_out concat_m(out_m)

The cost is ``O(queries * heads * L * P)``, linear in the number of pixels.

The tokens of all levels are concatenated into one sequence of length ``sum_l H_l * W_l``;
``spatial_shapes[l] = (H_l, W_l)`` and ``level_start_index[l]`` (where level ``l`` starts in the
sequence) say how to cut it back into maps.

Bilinear sampling is :func:`torch.nn.functional.grid_sample`, which wants locations in ``[-1, 1]``
(``-1`` the left/top edge of the first pixel, ``+1`` the right/bottom edge of the last one, as
``align_corners=False``) and reads zeros outside the map, exactly like the CUDA kernel of the
original implementation (``ms_deform_attn_core_pytorch`` is its PyTorch counterpart).

Relation to the references: :func:`multi_scale_deformable_attention` equals Deformable DETR's and
Mask2Former's ``ms_deform_attn_core_pytorch`` and ``transformers``'
``multi_scale_deformable_attention`` (same operations in the same order, so equal bit for bit);
:class:`MSDeformAttn` has the original ``MSDeformAttn``'s parameters (``sampling_offsets``,
``attention_weights``, ``value_proj``, ``output_proj``), initialisation and arithmetic. Left out:
the padding mask (Mask2Former's is always empty) and 4-number reference boxes (used by Deformable
DETR's two-stage decoder, not by Mask2Former).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["multi_scale_deformable_attention", "level_start_index", "MSDeformAttn"]


def level_start_index(spatial_shapes: Sequence[tuple[int, int]]) -> list[int]:
    """Where each level starts in the flattened sequence:
    ``[0, H_0 W_0, H_0 W_0 + H_1 W_1, ...]``."""
    starts = [0]
    for height, width in spatial_shapes[:-1]:
        starts.append(starts[-1] + height * width)
    return starts


def multi_scale_deformable_attention(value: torch.Tensor, spatial_shapes: Sequence[tuple[int, int]],
                                     sampling_locations: torch.Tensor,
                                     attention_weights: torch.Tensor) -> torch.Tensor:
    """Sample the values of every level at the given locations and sum them with the given weights.

    Args:
        value: ``(B, S, M, D)``: the projected values of all levels, ``S = sum_l H_l W_l`` tokens,
            ``M`` heads of ``D`` channels.
        spatial_shapes: ``L`` pairs ``(H_l, W_l)``, in the order of the sequence.
        sampling_locations: ``(B, Q, M, L, P, 2)``: ``(x, y)`` in ``[0, 1]`` (0 the left/top edge
            of the map, 1 the right/bottom edge), per query, head, level and point.
        attention_weights: ``(B, Q, M, L, P)``, summing to 1 over ``(L, P)``.

    Returns:
        ``(B, Q, M * D)``: per query, the heads' weighted sums side by side.
    """
    batch, num_tokens, num_heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    if sum(h * w for h, w in spatial_shapes) != num_tokens:
        raise ValueError(f"spatial_shapes {list(spatial_shapes)} cover "
                         f"{sum(h * w for h, w in spatial_shapes)} tokens but value has "
                         f"{num_tokens}")
    # 1. cut the sequence back into levels: L tensors (B, H_l W_l, M, D)
    value_per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    # 2. grid_sample wants locations in [-1, 1]
    grids = 2 * sampling_locations - 1  # (B, Q, M, L, P, 2)
    sampled = []
    for level, (height, width) in enumerate(spatial_shapes):
        # 3. the level as a batch of B * M images of D channels: (B M, D, H_l, W_l)
        value_l = value_per_level[level].flatten(2).transpose(1, 2)
        value_l = value_l.reshape(batch * num_heads, head_dim, height, width)
        # 4. its Q x P sampling points as a (Q, P) "image" of locations: (B M, Q, P, 2)
        grid_l = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        # 5. bilinear interpolation, zeros outside the map: (B M, D, Q, P)
        sampled.append(F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros",
                                     align_corners=False))
    # 6. the weights, per (batch, head): (B M, 1, Q, L P)
    weights = attention_weights.transpose(1, 2).reshape(batch * num_heads, 1, num_queries,
                                                        num_levels * num_points)
    # 7. weighted sum over the L P points: (B M, D, Q) -> (B, M D, Q) -> (B, Q, M D)
    output = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1)
    output = output.view(batch, num_heads * head_dim, num_queries)
    return output.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention: queries ``(B, Q, C)`` read a sequence ``(B, S, C)`` of
    ``L`` maps.

    Args (keyword-only):
        dim: ``C``, the channels of queries and values (divisible by ``num_heads``).
        num_levels: ``L``, the feature levels in the sequence (3 in Mask2Former).
        num_heads: ``M``.
        num_points: ``P``, the sampling points per head and level (4).
    """

    def __init__(self, *, dim: int = 256, num_levels: int = 3, num_heads: int = 8,
                 num_points: int = 4) -> None:
        super().__init__()
        for name, v in (("dim", dim), ("num_levels", num_levels), ("num_heads", num_heads),
                        ("num_points", num_points)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.dim, self.num_levels, self.num_heads, self.num_points = (dim, num_levels, num_heads,
                                                                      num_points)
        # per query: M L P offsets (x, y), M L P attention logits; values and output: C -> C
        self.sampling_offsets = nn.Linear(dim, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(dim, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's initialisation: at first, head ``m`` looks along direction
        ``2 pi m / M`` at distances 1, 2, .., P pixels, with equal weights on all points."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi
                                                                      / self.num_heads)
        directions = torch.stack([angles.cos(), angles.sin()], -1)  # (M, 2)
        # onto the square's border
        directions = directions / directions.abs().max(-1, keepdim=True)[0]
        grid = directions.view(self.num_heads, 1, 1, 2).repeat(1, self.num_levels, self.num_points,
                                                               1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor, value: torch.Tensor,
                spatial_shapes: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Attend from ``query`` to the sampled ``value`` tokens.

        Args:
            query: ``(B, Q, C)`` (in the pixel decoder: features plus positional code).
            reference_points: ``(B, Q, L, 2)``, ``(x, y)`` in ``[0, 1]``, per level.
            value: ``(B, S, C)``, the ``L`` flattened maps, ``S = sum_l H_l W_l``.
            spatial_shapes: ``L`` pairs ``(H_l, W_l)``.

        Returns:
            ``(B, Q, C)``.
        """
        batch, num_queries, _ = query.shape
        num_tokens = value.shape[1]
        if len(spatial_shapes) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} levels, got spatial_shapes "
                             f"{list(spatial_shapes)}")
        if reference_points.shape != (batch, num_queries, self.num_levels, 2):
            raise ValueError(f"reference_points must be (B, Q, L, 2) = ({batch}, {num_queries}, "
                             f"{self.num_levels}, 2), got {tuple(reference_points.shape)}")
        m, lv, p = self.num_heads, self.num_levels, self.num_points
        # 1. values, split into heads: (B, S, M, C / M)
        values = self.value_proj(value).view(batch, num_tokens, m, self.dim // m)
        # 2. offsets in pixels of each level: (B, Q, M, L, P, 2)
        offsets = self.sampling_offsets(query).view(batch, num_queries, m, lv, p, 2)
        # 3. attention weights, a softmax over the L P points of each head: (B, Q, M, L, P)
        weights = self.attention_weights(query).view(batch, num_queries, m, lv * p)
        weights = weights.softmax(-1).view(batch, num_queries, m, lv, p)
        # 4. locations = reference + offset / (W_l, H_l): pixels of level l -> [0, 1] coordinates
        normalizer = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=query.dtype,
                                  device=query.device)
        locations = (reference_points[:, :, None, :, None, :]
                     + offsets / normalizer[None, None, None, :, None, :])
        # 5. sample, weigh, sum; then mix the heads
        # (B, Q, C)
        output = multi_scale_deformable_attention(values, spatial_shapes, locations, weights)
        return self.output_proj(output)
