r"""Multi-head self-attention, written out (Vaswani et al., "Attention Is All You Need", NeurIPS
2017).

For tokens :math:`X \in \mathbb{R}^{T \times D}` and each head :math:`h = 1..H` of dimension
:math:`d = D / H`:

.. math::
    Q_h, K_h, V_h = X W^q_h, X W^k_h, X W^v_h, \qquad
    A_h = \operatorname{softmax}\Bigl(\frac{Q_h K_h^\top}{\sqrt d}\Bigr), \qquad
    \operatorname{MSA}(X) = [A_1 V_1, \dots, A_H V_H]\, W^o .

``A_h (T, T)`` is the *attention map*: row ``i`` holds how much token ``i`` reads from every token
(each row sums to 1). DINO visualises the class token's row of the last layer's maps.

The three projections are one linear layer ``qkv (D -> 3D)`` whose output is read as
``(3, H, d)``, and ``W^o`` is ``proj``: the layout and names of timm's and DINO's ``Attention``,
so their weights load as they are. An optional ``attention_mask`` restricts which keys a query
reads, with the convention of ``F.scaled_dot_product_attention``: a bool mask is True where a
query may attend, a float mask is added to the logits before the softmax (EoMT's masked
attention passes ``-1e9`` where a query may not attend).

timm computes the same function with the fused ``F.scaled_dot_product_attention`` (equal up to
rounding); DINO writes it out as here and also returns ``A``. Dropout on ``A`` and on the output (0
in DINO's pretraining) is left out.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Attention"]


class Attention(nn.Module):
    """Tokens ``(B, T, D)`` -> tokens ``(B, T, D)``, optionally with the attention ``(B, H, T, T)``.

    Args:
        dim: token dimension ``D``.
        num_heads: number of heads ``H`` (``D`` must be a multiple of it).
        qkv_bias: whether ``qkv`` has a bias (True in ViT and DINO).
    """

    def __init__(self, *, dim: int, num_heads: int = 8, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads})")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5  # 1 / sqrt(d)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of tokens ``x (B, T, D)``, each ``(B, H, T, d)``."""
        b, t, _ = x.shape
        # (B, T, 3D) -> (B, T, 3, H, d) -> (3, B, H, T, d)
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def forward(
        self, x: torch.Tensor, *, return_attention: bool = False,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``attention_mask``: ``None``, or a bool or float tensor that broadcasts to
        ``(B, H, T, T)`` (see the module docstring)."""
        b, t, dim = x.shape
        # 1. queries, keys, values per head: (B, H, T, d) each
        q, k, v = self.qkv_heads(x)
        # 2. scaled dot products of every query with every key: (B, H, T, T)
        logits = (q * self.scale) @ k.transpose(-2, -1)
        # 2b. optional mask: forbidden keys get -inf (bool) or the mask is added (float)
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                logits = logits.masked_fill(~attention_mask, float("-inf"))
            else:
                logits = logits + attention_mask
        # 3. softmax over the keys: each row of the attention map sums to 1
        attention = logits.softmax(dim=-1)
        # 4. each token takes the attention-weighted mean of the values: (B, H, T, d)
        out = attention @ v
        # 5. concatenate the heads (B, T, H d) and mix them with the output projection
        out = self.proj(out.transpose(1, 2).reshape(b, t, dim))
        return (out, attention) if return_attention else out
