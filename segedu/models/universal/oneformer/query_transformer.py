r"""OneFormer's query initialisation: the queries start as copies of the task token, refined by a
small DETR decoder over the mask features.

Mask2Former starts from ``Q`` learned query features, the same for every image and every task.
OneFormer (Jain et al., CVPR 2023, section 3.2 "Query Representations") makes the queries
**task-dependent** from the start::

    Q_task (B, C)  -> repeated Q - 1 times                     (B, Q - 1, C)   the initial queries
    mask features F (B, D, H/4, W/4)
      keys/values: the sine code of F's grid (values) and a 1x1 projection of F (added to keys)
    -> N_q = 2 DETR decoder layers: self-attention, cross-attention to the stride-4 map, FFN
       (post-norm; learned query positions ``query_embed[:Q - 1]``)
    -> LayerNorm                                               (B, Q - 1, C)   the object queries

The decoder (:mod:`.transformer_decoder`) then appends ``Q_task`` itself as the ``Q``-th query.

A detail of the original that ``transformers`` keeps: the DETR decoder is called as
``class_transformer(src=pe_layer(F), pos_embed=class_input_proj(F))``, i.e. the *values* of its
cross-attention are the sine positional code of the grid and the image enters only through the
keys' "position" term (``memory + pos``). segedu computes the same: ``memory`` is the sine code
and ``pos`` the projected mask features. The original's ``Transformer`` also has an encoder, given
no layers (``ENC_LAYERS: 0``), so the memory is that code as it is.

Each layer is DETR's decoder layer (Carion et al., ECCV 2020), the one DETR's own decoder uses:
:class:`~segedu.nn.transformer_layers.DetrDecoderLayer`, whose ``self_attention``,
``cross_attention`` and ``ffn`` hold ``transformers``' ``norm1``, ``norm2`` and ``norm3`` as their
``norm``. ``transformers`` applies its config's ``dropout`` (0.1) inside these layers in
training; segedu has none (the tests compare with ``dropout=0``).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.transformer_layers import DetrDecoderLayer

__all__ = ["QueryTransformer"]


class QueryTransformer(nn.Module):
    """Task token and mask features -> ``Q - 1`` task-conditioned object queries (module
    docstring).

    Args (keyword-only):
        dim: ``C``.
        num_heads: attention heads (8).
        ffn_dim: feed-forward width (2048).
        num_layers: ``N_q`` (2).
    """

    def __init__(self, *, dim: int = 256, num_heads: int = 8, ffn_dim: int = 2048,
                 num_layers: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DetrDecoderLayer(dim=dim, num_heads=num_heads, ffn_dim=ffn_dim)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, task_token: torch.Tensor, memory: torch.Tensor, *, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        """``task_token (B, C)``, ``memory`` and ``pos`` ``(B, HW, C)``, ``query_pos (N, C)`` ->
        ``(B, N, C)``."""
        # 1. every query starts as the task token: (B, N, C)
        x = task_token.unsqueeze(1).expand(-1, query_pos.shape[0], -1)
        query_pos = query_pos.unsqueeze(0).expand(x.shape[0], -1, -1)
        # 2. DETR decoder layers, then a LayerNorm
        for layer in self.layers:
            x = layer(x, memory, pos=pos, query_pos=query_pos)
        return self.norm(x)
