r"""DETR's transformer: an encoder over the image's pixels, a decoder over ``Q`` object queries.

DETR (Carion et al., "End-to-End Object Detection with Transformers", ECCV 2020, Sec. 3.2 and
Fig. 10) flattens the backbone's projected feature map to ``HW`` tokens of width ``C``:

- each **encoder layer** is self-attention among the pixels, then a feed-forward network;
- each **decoder layer** is self-attention among the queries, cross-attention from the queries to
  the encoder's pixels, then a feed-forward network.

Every sub-layer has a residual connection and a LayerNorm after it (post-norm). Attention is
blind to position, so positions are added **at every layer, to queries and keys only** (the
values stay the features): the pixels' sine code ``pos`` wherever a pixel is a query or a key,
the learned object-query embedding ``query_pos`` wherever a query is a query or a key. The
decoder's input is zeros: at first a query *is* only its ``query_pos``, and the layers fill it
with what it found. A LayerNorm shared by all layers (``decoder_norm``) is applied to the output
of *every* decoder layer, so that the prediction heads can read each of them (the auxiliary
losses of the paper's Sec. 3.2).

The sub-layers are :mod:`segedu.nn.transformer_layers`' (``SelfAttentionLayer``,
``CrossAttentionLayer``, ``FFNLayer``): the post-norm blocks with the positions added to queries
and keys, which Mask2Former took from DETR; the decoder layer, which OneFormer also uses, is that
module's ``DetrDecoderLayer``. Tensors are batch-first,
``(B, L, C)``; dropout (0.1 in the paper's training) is left out.
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.transformer_layers import DetrDecoderLayer, FFNLayer, SelfAttentionLayer

__all__ = ["DetrEncoderLayer", "DetrDecoderLayer", "DetrTransformer"]


class DetrEncoderLayer(nn.Module):
    """Pixels attend to pixels, then a feed-forward network: ``(B, HW, C) -> (B, HW, C)``;
    ``pos (B, HW, C)`` is added to the queries and keys of the self-attention."""

    def __init__(self, *, dim: int, num_heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attention = SelfAttentionLayer(dim=dim, num_heads=num_heads)
        self.ffn = FFNLayer(dim=dim, ffn_dim=ffn_dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.self_attention(x, pos))


class DetrTransformer(nn.Module):
    """``encoder_layers`` encoder layers, ``decoder_layers`` decoder layers and the decoder's
    shared LayerNorm (see the module docstring).

    Args (keyword-only):
        dim: the token width ``C`` (the paper: 256).
        num_heads: attention heads of every layer (8).
        encoder_layers, decoder_layers: the depths (6 and 6).
        ffn_dim: the feed-forward width of every layer (2048).
    """

    def __init__(self, *, dim: int = 256, num_heads: int = 8, encoder_layers: int = 6,
                 decoder_layers: int = 6, ffn_dim: int = 2048) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads})")
        if encoder_layers < 0 or decoder_layers < 1:
            raise ValueError("need at least one decoder layer and no negative depth, got "
                             f"encoder_layers={encoder_layers}, decoder_layers={decoder_layers}")
        kwargs = dict(dim=dim, num_heads=num_heads, ffn_dim=ffn_dim)
        self.encoder = nn.ModuleList(DetrEncoderLayer(**kwargs) for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(DetrDecoderLayer(**kwargs) for _ in range(decoder_layers))
        self.decoder_norm = nn.LayerNorm(dim)

    def forward(self, src: torch.Tensor, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        """``src, pos (B, HW, C)`` (pixel features, their sine code), ``query_pos (Q, C)`` (the
        learned object queries) -> ``(L, B, Q, C)``: the normalised output of each of the ``L``
        decoder layers, the last one the final output."""
        # 1. encoder: the pixels exchange information, each keeping its position
        memory = src
        for layer in self.encoder:
            memory = layer(memory, pos)
        # 2. decoder: the queries start empty; their identity is query_pos, added at every layer
        query_pos = query_pos.unsqueeze(0).expand(src.shape[0], -1, -1)
        queries = torch.zeros_like(query_pos)
        outputs = []
        for layer in self.decoder:
            queries = layer(queries, memory, pos=pos, query_pos=query_pos)
            outputs.append(self.decoder_norm(queries))  # the heads read every layer
        return torch.stack(outputs)
