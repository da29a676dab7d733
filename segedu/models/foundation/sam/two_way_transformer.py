"""SAM's two-way transformer (Kirillov et al., ICCV 2023, section 3, appendix A, figure 14):
the prompt tokens and the image embedding update each other.

Each :class:`TwoWayAttentionBlock` runs four steps on the tokens (queries, ``(B, N, C)``) and the
image (keys, ``(B, h * w, C)``)::

    1. self-attention of the tokens                     (queries <- queries)
    2. cross-attention, tokens to image                 (queries <- image)
    3. an MLP on each token
    4. cross-attention, image to tokens                 (image   <- queries)

each followed by a residual connection and a LayerNorm (post-norm). Positional encodings are added
to the queries and keys of every attention (never to the values): the original prompt tokens
serve as the tokens' "position" (``query_pe``) and the dense random-Fourier code as the image's
(``key_pe``); the first block's self-attention skips them (its queries *are* the prompt tokens).
After the blocks, a last token-to-image attention and LayerNorm. Cross-attentions project to
``C / attention_downsample_rate`` channels internally to save compute over the 4096 image tokens.

Parameter names and results are those of segment-anything's ``TwoWayTransformer`` (tested).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ....nn.mlp_block import MLPBlock

__all__ = ["TwoWayTransformer", "TwoWayAttentionBlock", "Attention"]


class Attention(nn.Module):
    """Multi-head attention ``(B, N_q, C), (B, N_k, C), (B, N_k, C)`` -> ``(B, N_q, C)``, whose
    query/key/value projections go to ``C / downsample_rate`` channels (``q_proj``, ``k_proj``,
    ``v_proj``, ``out_proj``)."""

    def __init__(self, *, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError(
                f"num_heads ({num_heads}) must divide the internal width ({self.internal_dim})"
            )
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _separate_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` -> ``(B, heads, N, C / heads)``."""
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def _recombine_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, heads, N, C / heads)`` -> ``(B, N, C)``."""
        b, heads, n, c = x.shape
        return x.transpose(1, 2).reshape(b, n, heads * c)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # project and split into heads
        q = self._separate_heads(self.q_proj(q))
        k = self._separate_heads(self.k_proj(k))
        v = self._separate_heads(self.v_proj(v))
        # scaled dot-product attention (B, heads, N_q, N_k), softmax over the keys
        attn = q @ k.permute(0, 1, 3, 2)
        attn = attn / math.sqrt(q.shape[-1])
        attn = torch.softmax(attn, dim=-1)
        # weighted values, heads back together, output projection
        return self.out_proj(self._recombine_heads(attn @ v))


class TwoWayAttentionBlock(nn.Module):
    """The four steps of the module docstring: ``(queries (B, N, C), keys (B, hw, C))`` -> same."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim=embedding_dim, num_heads=num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            downsample_rate=attention_downsample_rate,
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim=embedding_dim, mlp_dim=mlp_dim, act=activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            downsample_rate=attention_downsample_rate,
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_pe: torch.Tensor,
        key_pe: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # 1. self-attention of the tokens (the first block replaces them, without positions)
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)
        # 2. tokens attend to the image
        q = queries + query_pe
        k = keys + key_pe
        queries = queries + self.cross_attn_token_to_image(q=q, k=k, v=keys)
        queries = self.norm2(queries)
        # 3. MLP on each token
        queries = queries + self.mlp(queries)
        queries = self.norm3(queries)
        # 4. the image attends to the tokens
        q = queries + query_pe
        k = keys + key_pe
        keys = keys + self.cross_attn_image_to_token(q=k, k=q, v=queries)
        keys = self.norm4(keys)
        return queries, keys


class TwoWayTransformer(nn.Module):
    """``depth`` two-way blocks and a final token-to-image attention.

    Args (keyword-only):
        depth: number of :class:`TwoWayAttentionBlock` (2 in SAM).
        embedding_dim: token width ``C`` (256).
        num_heads: attention heads (8); must divide ``C / attention_downsample_rate``.
        mlp_dim: hidden width of the token MLP (2048).
        activation: the MLP activation (ReLU).
        attention_downsample_rate: internal width reduction of the cross-attentions (2).
    """

    def __init__(
        self,
        *,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            downsample_rate=attention_downsample_rate,
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: torch.Tensor, image_pe: torch.Tensor, point_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            image_embedding: ``(B, C, h, w)``.
            image_pe: its positional code, ``(B, C, h, w)``.
            point_embedding: the tokens ``(B, N, C)`` (output tokens and prompt tokens).

        Returns:
            the updated tokens ``(B, N, C)`` and image ``(B, h * w, C)``.
        """
        # image maps to sequences of h * w tokens (B, hw, C)
        keys = image_embedding.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = point_embedding
        # two-way blocks
        for layer in self.layers:
            queries, keys = layer(
                queries=queries, keys=keys, query_pe=point_embedding, key_pe=key_pe
            )
        # last attention from the tokens to the image, then LayerNorm
        q = queries + point_embedding
        k = keys + key_pe
        queries = queries + self.final_attn_token_to_image(q=q, k=k, v=keys)
        queries = self.norm_final_attn(queries)
        return queries, keys
