"""SAM 2's memory attention (Ravi et al., "SAM 2", 2024, section 4): condition the current
frame's image embedding on the memory bank.

The tokens of the current frame's embedding (``h * w`` of width ``C``) go through
``num_layers`` pre-norm transformer layers::

    x = x + 0.1 * pos                                   (the sine code, weakly, once)
    x = x + SelfAttn(LN(x))                             (RoPE on queries and keys)
    x = x + CrossAttn(q = LN(x), k = memory + memory_pos, v = memory)
                                                        (RoPE on q and on the spatial memories)
    x = x + Linear(Dropout(ReLU(Linear(LN(x)))))
    out = LN(x)

The memory (:mod:`.memory_bank`) holds the spatial memories of a few past frames (``h * w`` tokens
of width ``mem_dim`` each, from :mod:`.memory_encoder`) and the object pointers (tokens of width
``mem_dim`` without a grid position, excluded from RoPE). The keys and values are projected from
``mem_dim`` to ``C``. Attention probabilities get dropout in training.

Names follow facebookresearch/sam2's ``MemoryAttention`` / ``MemoryAttentionLayer`` /
``RoPEAttention``; results are those of ``transformers``' ``Sam2VideoMemoryAttention`` (tested
through the video model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import apply_rope, axial_rope

__all__ = ["RoPEAttention", "MemoryAttentionLayer", "MemoryAttention"]


class RoPEAttention(nn.Module):
    """Multi-head attention with axial 2-D RoPE on the queries and (all but the last
    ``num_k_exclude_rope``) keys: ``q (B, Nq, C)``, ``k, v (B, Nk, kv_in_dim)`` -> ``(B, Nq, C)``.

    Args (keyword-only):
        embedding_dim: width ``C`` of queries and output.
        num_heads: heads (1 in SAM 2).
        kv_in_dim: width of keys and values (``mem_dim`` in the cross-attention), default ``C``.
        dropout: attention dropout in training.
        rope_theta: the RoPE base (10000).
    """

    def __init__(self, *, embedding_dim: int, num_heads: int = 1, kv_in_dim: int | None = None,
                 dropout: float = 0.1, rope_theta: float = 10000.0) -> None:
        super().__init__()
        kv_in_dim = embedding_dim if kv_in_dim is None else kv_in_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.rope_theta = rope_theta
        self.q_proj = nn.Linear(embedding_dim, embedding_dim)
        self.k_proj = nn.Linear(kv_in_dim, embedding_dim)
        self.v_proj = nn.Linear(kv_in_dim, embedding_dim)
        self.out_proj = nn.Linear(embedding_dim, embedding_dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, grid: tuple[int, int],
                num_k_exclude_rope: int = 0) -> torch.Tensor:
        b = q.shape[0]
        # project and split heads: (B, heads, N, head_dim)
        q, k, v = (proj(x).reshape(b, x.shape[1], self.num_heads, -1).transpose(1, 2)
                   for proj, x in ((self.q_proj, q), (self.k_proj, k), (self.v_proj, v)))
        # rotate by the grid positions
        cos, sin = axial_rope(height=grid[0], width=grid[1], head_dim=q.shape[-1],
                              theta=self.rope_theta, device=q.device)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin, num_exclude=num_k_exclude_rope)
        out = F.scaled_dot_product_attention(q, k, v,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, out.shape[2], -1))


class MemoryAttentionLayer(nn.Module):
    """One layer of the module docstring: ``(B, hw, C)`` tokens, memory ``(B, M, mem_dim)`` ->
    ``(B, hw, C)``.

    Args (keyword-only):
        d_model: width ``C`` (256).
        mem_dim: width of the memory tokens (64).
        dim_feedforward: hidden width of the MLP (2048).
        num_heads: attention heads (1).
        dropout: dropout of the residual branches and attention (0.1).
    """

    def __init__(self, *, d_model: int, mem_dim: int, dim_feedforward: int, num_heads: int = 1,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = RoPEAttention(embedding_dim=d_model, num_heads=num_heads, dropout=dropout)
        self.cross_attn_image = RoPEAttention(embedding_dim=d_model, num_heads=num_heads,
                                              kv_in_dim=mem_dim, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor, *,
                grid: tuple[int, int], num_obj_ptr_tokens: int = 0) -> torch.Tensor:
        # self-attention among the frame's tokens
        q = self.norm1(x)
        x = x + self.dropout1(self.self_attn(q, q, q, grid=grid))
        # cross-attention to the memory (keys carry the memory's position codes)
        q = self.norm2(x)
        x = x + self.dropout2(self.cross_attn_image(q, memory + memory_pos, memory, grid=grid,
                                                    num_k_exclude_rope=num_obj_ptr_tokens))
        # MLP
        q = self.norm3(x)
        return x + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(q)))))


class MemoryAttention(nn.Module):
    """``num_layers`` :class:`MemoryAttentionLayer` and a final LayerNorm (module docstring).

    Args (keyword-only):
        d_model, mem_dim, dim_feedforward, num_heads, dropout: of each layer.
        num_layers: layers (4 in SAM 2).
    """

    def __init__(self, *, d_model: int, mem_dim: int, num_layers: int, dim_feedforward: int,
                 num_heads: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MemoryAttentionLayer(d_model=d_model, mem_dim=mem_dim, num_heads=num_heads,
                                 dim_feedforward=dim_feedforward, dropout=dropout)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, curr: torch.Tensor, curr_pos: torch.Tensor, memory: torch.Tensor,
                memory_pos: torch.Tensor, *, grid: tuple[int, int],
                num_obj_ptr_tokens: int = 0) -> torch.Tensor:
        """Args:
            curr: the frame's tokens ``(B, h * w, C)``; ``curr_pos`` their sine code.
            memory: ``(B, M, mem_dim)``: spatial memories, then ``num_obj_ptr_tokens`` pointers.
            memory_pos: their position codes, same shape.
            grid: ``(h, w)``.
        Returns:
            the conditioned tokens ``(B, h * w, C)``.
        """
        if curr.shape[1] != grid[0] * grid[1]:
            raise ValueError(f"{curr.shape[1]} tokens do not fill a {grid} grid")
        x = curr + 0.1 * curr_pos
        for layer in self.layers:
            x = layer(x, memory, memory_pos, grid=grid, num_obj_ptr_tokens=num_obj_ptr_tokens)
        return self.norm(x)
