r"""OneFormer's text encoder: a small CLIP-style transformer that turns one text into one vector.

Used only in training, by the text mapper (:mod:`.text_mapper`), to encode the text list of each
image (Jain et al., CVPR 2023, section 3.3)::

    token ids (N, L)
      -> token embedding + learned positions    (N, L, W)
      -> layers x pre-norm transformer layer    (N, L, W)   x = x + MHA(LN(x), causal);
                                                            x = x + MLP(LN(x))
      -> LayerNorm                              (N, L, W)
      -> the token at the end-of-text position  (N, W)      (the argmax of the ids: 49407)

The layer is CLIP's (Radford et al. 2021): LayerNorm before each branch, ``W / 64`` heads, an MLP
of width ``4 W`` with QuickGELU, :math:`x \, \sigma(1.702 x)`, and a **causal** attention mask:
token ``i`` reads tokens ``0 .. i`` only, so the end-of-text token sums up the text read left to
right and the zero padding after it has no influence.

Relation to ``transformers``' ``OneFormerTextEncoder`` (proven equal in
``tests/models/universal/oneformer/test_network.py``): the same parameters (``token_embedding``,
``positional_embedding``, ``layers.{i}.self_attn`` an ``nn.MultiheadAttention``,
``layer_norm1``, ``mlp.fc1``, ``mlp.fc2``, ``layer_norm2``, ``ln_final``; ``transformers`` puts the
layers under ``transformer.layers``). One difference: ``transformers`` builds the causal mask but
never passes it to the attention, so its text encoder attends in both directions (the padding
included), while the original (SHI-Labs/OneFormer's ``TextTransformer``, CLIP's) applies it.
segedu follows the original; ``causal=False`` gives ``transformers``' numbers (the tests use it).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.quick_gelu import QuickGELU

__all__ = ["TextLayer", "TextEncoder"]


class TextMLP(nn.Module):
    """``(..., W) -> (..., W)``: ``fc2(QuickGELU(fc1(x)))``, hidden width ``4 W``."""

    def __init__(self, *, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = QuickGELU()  # CLIP's approximation of GELU (segedu.nn.quick_gelu)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TextLayer(nn.Module):
    """Tokens ``(N, L, W) -> (N, L, W)``: a pre-norm transformer layer (module docstring).

    Args (keyword-only):
        dim: ``W``.
        num_heads: attention heads (``W / 64`` in OneFormer).
        eps: LayerNorm epsilon (1e-5).
    """

    def __init__(self, *, dim: int, num_heads: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.layer_norm1 = nn.LayerNorm(dim, eps=eps)
        self.mlp = TextMLP(dim=dim, hidden_dim=4 * dim)
        self.layer_norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``attn_mask``: ``(L, L)`` boolean, True where a token may *not* read another (None:
        every token reads every other)."""
        # 1. self-attention on the normalised tokens
        h = self.layer_norm1(x)
        x = x + self.self_attn(h, h, h, attn_mask=attn_mask, need_weights=False)[0]
        # 2. the MLP on each token
        return x + self.mlp(self.layer_norm2(x))


class TextEncoder(nn.Module):
    """Token ids ``(N, L)`` int64 -> text features ``(N, W)`` (module docstring).

    Args (keyword-only):
        context_length: ``L`` (77).
        width: ``W`` (256), a multiple of 64.
        num_layers: transformer layers (6).
        vocab_size: token ids (49,408: CLIP's).
        causal: token ``i`` reads tokens ``0 .. i`` only (the original; ``False``:
            ``transformers``' port, module docstring).
    """

    def __init__(self, *, context_length: int = 77, width: int = 256, num_layers: int = 6,
                 vocab_size: int = 49408, causal: bool = True) -> None:
        super().__init__()
        if width % 64:
            raise ValueError(f"width must be a multiple of 64 (heads of 64 channels), got {width}")
        self.context_length, self.width, self.causal = context_length, width, causal
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.layers = nn.ModuleList(TextLayer(dim=width, num_heads=width // 64)
                                    for _ in range(num_layers))
        self.ln_final = nn.LayerNorm(width)
        # CLIP's initialisation of the embeddings
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.ndim != 2 or token_ids.shape[1] != self.context_length:
            raise ValueError(f"token ids must be (N, {self.context_length}), got "
                             f"{tuple(token_ids.shape)}")
        # 1. embed each token and its position: (N, L, W)
        x = self.token_embedding(token_ids) + self.positional_embedding
        # 2. the transformer (causal: no token reads a later one), then a LayerNorm
        length = token_ids.shape[1]
        mask = (torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
                if self.causal else None)
        for layer in self.layers:
            x = layer(x, mask)
        x = self.ln_final(x)
        # 3. one vector per text: the end-of-text token's (the largest id, 49407)
        return x[torch.arange(x.shape[0], device=x.device), token_ids.argmax(dim=-1)]  # (N, W)
