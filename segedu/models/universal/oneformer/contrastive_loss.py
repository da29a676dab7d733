r"""OneFormer's query-text contrastive loss: the queries of an image must match its own text list
better than any other image's.

Jain et al., CVPR 2023, section 3.3, Eq. (1)-(2). For a batch of ``B`` images, the task-conditioned
queries ``Q`` (the decoder's input: the object queries and the task token, ``(B, Q, C)``) and the
text queries ``Q_text`` (``(B, Q, C)``, :mod:`.text_mapper`) are each flattened to one vector per
image and L2-normalised; their similarities, scaled by a learned inverse temperature
:math:`1 / \tau` (initially ``1 / 0.07``, clamped at 100, as CLIP's), are ``B x B`` logits, and the
loss is the symmetric cross-entropy that picks the diagonal:

.. math:: \mathcal{L}_{Q \to Q_\text{text}} = -\frac{1}{B} \sum_i
          \log \frac{\exp(q_i \cdot t_i / \tau)}{\sum_j \exp(q_i \cdot t_j / \tau)}, \qquad
          \mathcal{L}_\text{contrastive} = \mathcal{L}_{Q \to Q_\text{text}}
          + \mathcal{L}_{Q_\text{text} \to Q}.

Because a text list names the image's segments *for the drawn task* (and fills the rest with
"a {task} photo"), the loss pushes the queries to differ between tasks and to count the segments
of each class (the paper's ablation finds fewer category mistakes and better scores with
it). It is weighted 0.5 in the total loss. A batch of one image gives 0 (its single
logit is always the right one).

Relation to ``transformers``' ``OneFormerLoss.loss_contrastive``: the same arithmetic; the learned
scale is its ``criterion.logit_scale`` (a parameter of the loss there, of this module here).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["QueryTextContrastiveLoss"]


class QueryTextContrastiveLoss(nn.Module):
    """``(queries (B, Q, C), text_queries (B, Q, C))`` -> scalar loss (module docstring).

    Args (keyword-only):
        temperature: the initial :math:`\tau` (0.07); ``logit_scale = log(1 / tau)`` is learned.
        max_scale: the clamp of ``exp(logit_scale)`` (100).
    """

    def __init__(self, *, temperature: float = 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)))
        self.max_scale = max_scale

    def forward(self, queries: torch.Tensor, text_queries: torch.Tensor) -> torch.Tensor:
        if queries.shape != text_queries.shape or queries.ndim != 3:
            raise ValueError("queries and text queries must both be (B, Q, C), got "
                             f"{tuple(queries.shape)} and {tuple(text_queries.shape)}")
        # 1. one unit vector per image: (B, Q C)
        image = F.normalize(queries.float().flatten(1), dim=-1)
        text = F.normalize(text_queries.flatten(1), dim=-1)
        # 2. scaled cosine similarities, text i against image j: (B, B)
        scale = self.logit_scale.exp().clamp(max=self.max_scale)
        logits_per_text = scale * text @ image.t()
        # 3. each image must pick its own text, and each text its own image
        target = torch.arange(len(logits_per_text), device=logits_per_text.device)
        return (F.cross_entropy(logits_per_text.t(), target)
                + F.cross_entropy(logits_per_text, target))
