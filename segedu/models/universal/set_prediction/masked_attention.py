r"""Masked attention, the "masked" in Mask2Former: each query attends only inside its own
predicted mask.

In DETR-style cross-attention every query looks at every pixel, and learning to ignore the
background takes long. Mask2Former restricts query ``q``'s cross-attention to the pixels that the
*previous* layer's prediction puts in its mask:

.. math:: X_l = \operatorname{softmax}(\mathcal{M}_{l-1} + Q_l K_l^\top) V_l + X_{l-1},
          \qquad \mathcal{M}_{l-1}(q, x) = \begin{cases} 0 & \text{if } \sigma(m_{l-1}(q, x)) \ge
          0.5 \\ -\infty & \text{otherwise} \end{cases}

where :math:`m_{l-1}` are the mask logits predicted after layer :math:`l - 1` (before the first
layer, from the learnable queries), resized (bilinearly) to the resolution of the features that
layer :math:`l` attends to. As a boolean mask (``True`` = may *not* attend, PyTorch's convention for
``attn_mask``): ``sigmoid(m) < 0.5``, i.e. ``m < 0``.

One edge case needs care: a query whose mask is empty (it predicts only background) would have
every key masked, and a softmax over all ``-inf`` is ``0 / 0 = NaN`` (recent PyTorch attention
kernels return zeros instead: a query that reads nothing). Such rows are reset to attend
**everywhere**, as in the original code (``attn_mask[where(attn_mask.sum(-1) == L)] = False``).
The mask is a constant for the gradient (``detach``): the model learns its masks from the mask loss,
not through the attention.

Relation to the references: equal to ``forward_prediction_heads`` / the reset line of
facebookresearch/Mask2Former's ``MultiScaleMaskedTransformerDecoder`` and to ``transformers``'
``Mask2FormerMaskPredictor`` plus the reset in ``Mask2FormerMaskedAttentionDecoder``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["attention_mask_from_masks", "reset_fully_masked_rows"]


def attention_mask_from_masks(mask_logits: torch.Tensor, size: tuple[int, int],
                              num_heads: int) -> torch.Tensor:
    """Boolean attention mask from predicted mask logits: ``True`` where the query may not attend.

    Args:
        mask_logits: ``(B, Q, H/4, W/4)`` mask logits of the previous prediction.
        size: ``(h, w)`` of the feature map the next cross-attention attends to.
        num_heads: heads of that attention; the mask is repeated for each.

    Returns:
        ``(B * num_heads, Q, h * w)`` boolean, batch-major then head (``nn.MultiheadAttention``'s
        ``attn_mask`` layout), detached.
    """
    if mask_logits.ndim != 4:
        raise ValueError(f"mask_logits must be (B, Q, H, W), got shape {tuple(mask_logits.shape)}")
    # 1. resize the masks to the attended level's resolution: (B, Q, h, w)
    resized = F.interpolate(mask_logits, size=size, mode="bilinear", align_corners=False)
    # 2. a query may attend where its mask probability is >= 0.5: masked = prob < 0.5
    masked = resized.sigmoid().flatten(2) < 0.5  # (B, Q, h w)
    # 3. one copy per head, flattened into the batch: (B M, Q, h w); no gradient through the mask
    return masked.unsqueeze(1).repeat(1, num_heads, 1, 1).flatten(0, 1).detach()


def reset_fully_masked_rows(attn_mask: torch.Tensor) -> torch.Tensor:
    """Let a query whose every key is masked attend everywhere:
    ``(N, Q, K) -> (N, Q, K)`` boolean."""
    fully_masked = attn_mask.all(dim=-1, keepdim=True)  # (N, Q, 1)
    return attn_mask & ~fully_masked
