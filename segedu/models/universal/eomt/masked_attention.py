r"""EoMT's attention mask: queries read only the patches inside their predicted masks.

Before each of the last ``L2`` blocks, EoMT (Kerssies et al., CVPR 2025) predicts a mask per query
from the current tokens and builds a ``(T, T)`` attention mask over the token sequence
``[Q queries; P prefix tokens (class token, registers); N = h w patches]``:

- a query may read a patch only where its mask logit, bilinearly resized to the patch grid, is
  positive (Mask2Former's masked attention, :func:`~segedu.models.universal.set_prediction.
  attention_mask_from_masks`, applied to the query-to-patch block of a ViT's self-attention);
- every other pair is free: queries read all queries and the prefix tokens, and the patches read
  everything (queries included), so no row is ever fully masked (Mask2Former's reset of empty
  rows is not needed);
- **annealing** (:mod:`.annealing`): with mask probability ``p < 1`` each query's mask is dropped
  (the query reads every patch) when a uniform draw exceeds ``p``, one draw per query and image.

References: ``_attn_mask`` and ``_disable_attn_mask`` of the authors' ``models/eomt.py``
(tue-mps/eomt) and the mask built in ``transformers``' ``EomtForUniversalSegmentation.forward``;
the random draw is theirs, ``torch.rand(B, Q) > p`` from PyTorch's global generator (or
``generator``), so the same seed drops the same queries. One tie differs: the references allow a
query where the resized logit is ``> 0``, Mask2Former's rule (reused here) where
``sigmoid(logit) >= 0.5``, i.e. also where it is 0 or rounds so (``|logit| < 3e-8``).
"""

from __future__ import annotations

import torch

from ..set_prediction import attention_mask_from_masks

__all__ = ["query_attention_mask"]


def query_attention_mask(mask_logits: torch.Tensor, *, grid_size: tuple[int, int],
                         num_prefix_tokens: int, probability: float | torch.Tensor = 1.0,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """The attention mask of one masked block, ``True`` where a token may attend.

    Args:
        mask_logits: ``(B, Q, H', W')``, the queries' mask logits predicted before the block.
        grid_size: the patch grid ``(h, w)``.
        num_prefix_tokens: ``P``, the class token and the registers between queries and patches.
        probability: the block's mask probability ``p`` (1: every query masked; 0: none).
        generator: for the annealing draw (default: PyTorch's global generator).

    Returns:
        ``(B, 1, T, T)`` bool, ``T = Q + P + h w`` (one mask for every head), without gradient.
    """
    if mask_logits.ndim != 4:
        raise ValueError(f"mask_logits must be (B, Q, H, W), got shape {tuple(mask_logits.shape)}")
    batch, num_queries = mask_logits.shape[:2]
    h, w = grid_size
    first_patch = num_queries + num_prefix_tokens
    tokens = first_patch + h * w
    # 1. everything may attend everything ...
    allowed = torch.ones(batch, tokens, tokens, dtype=torch.bool, device=mask_logits.device)
    # 2. ... except a query, outside its mask resized to the patch grid (Mask2Former's rule)
    outside = attention_mask_from_masks(mask_logits, (h, w), num_heads=1)  # (B, Q, h w)
    allowed[:, :num_queries, first_patch:] = ~outside
    # 3. annealing: a query whose draw exceeds p reads every patch
    if probability < 1:
        free = torch.rand(batch, num_queries, device=mask_logits.device,
                          generator=generator) > probability  # (B, Q)
        allowed[:, :num_queries, first_patch:][free] = True
    return allowed[:, None]
