r"""Decomposed relative position embeddings (MViTv2, Li et al. CVPR 2022), as in SAM's
image encoder.

Attention between a query at ``(i, j)`` and a key at ``(k, l)`` of a token grid gets a bias that
depends only on their offset, split into a vertical and a horizontal part:

.. math::
    a_{(i,j),(k,l)} = q_{ij} \cdot k_{kl} / \sqrt{d}
        + q_{ij} \cdot R^h_{i-k} + q_{ij} \cdot R^w_{j-l}

``rel_pos_h`` holds one learned vector :math:`R^h_\delta` per vertical offset
:math:`\delta \in \{-(H-1), \dots, H-1\}` (``2H - 1`` rows), and ``rel_pos_w`` the same across.
The bias is a dot product with the (unscaled) query, so each head learns how much position
matters for what it looks for. A windowed block uses ``H = W = window_size``; a global block the
whole grid (ViT-B: 64, so 127 rows).

When the query and key grids differ in size, or the table was learned for another size, the
table is resampled linearly and the offsets rescaled, as in segment-anything's ``get_rel_pos``
(which SAM itself never needs: its queries and keys always come from the same grid).
Same operations as segment-anything's ``get_rel_pos`` and ``add_decomposed_rel_pos``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["get_rel_pos", "add_decomposed_rel_pos"]


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Embeddings ``(q_size, k_size, C)`` of every query-key offset along one axis, read from the
    table ``rel_pos (L, C)`` (resampled to ``2 * max(q_size, k_size) - 1`` rows if needed)."""
    length = 2 * max(q_size, k_size) - 1
    # resample the table linearly along its rows if it was learned for another size
    if rel_pos.shape[0] != length:
        table = F.interpolate(rel_pos.T[None], size=length, mode="linear")  # (1, C, L)
        table = table[0].T
    else:
        table = rel_pos
    # offset (query - key) in the finer of the two grids, shifted to start at row 0
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    offsets = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return table[offsets.long()]


def add_decomposed_rel_pos(
    attn: torch.Tensor,
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    q_size: tuple[int, int],
    k_size: tuple[int, int],
) -> torch.Tensor:
    """Add the relative position bias to attention logits.

    Args:
        attn: logits ``(B, q_h * q_w, k_h * k_w)`` (``B`` counts images x heads x windows).
        q: queries ``(B, q_h * q_w, C)`` (not multiplied by the attention scale).
        rel_pos_h, rel_pos_w: tables ``(2 * q_h - 1, C)`` and ``(2 * q_w - 1, C)``.
        q_size, k_size: the query and key grids ``(h, w)``.

    Returns:
        ``(B, q_h * q_w, k_h * k_w)``.
    """
    q_h, q_w = q_size
    k_h, k_w = k_size
    r_h = get_rel_pos(q_h, k_h, rel_pos_h)  # (q_h, k_h, C)
    r_w = get_rel_pos(q_w, k_w, rel_pos_w)  # (q_w, k_w, C)
    b, _, dim = q.shape
    q_grid = q.reshape(b, q_h, q_w, dim)
    # q_ij . R^h[i, k] for every key row k, and q_ij . R^w[j, l] for every key column l
    rel_h = torch.einsum("bhwc,hkc->bhwk", q_grid, r_h)  # (B, q_h, q_w, k_h)
    rel_w = torch.einsum("bhwc,wkc->bhwk", q_grid, r_w)  # (B, q_h, q_w, k_w)
    # broadcast the two biases over the key grid (k_h, k_w) and add them
    attn = attn.view(b, q_h, q_w, k_h, k_w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return attn.view(b, q_h * q_w, k_h * k_w)
