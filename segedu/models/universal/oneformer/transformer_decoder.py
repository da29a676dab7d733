r"""OneFormer's transformer decoder: Mask2Former's masked-attention decoder on task-conditioned
queries.

Jain et al., CVPR 2023, section 3.2 and Fig. 2. Compared with Mask2Former's decoder
(:class:`~segedu.models.universal.mask2former.MultiScaleMaskedTransformerDecoder`) only the
queries change::

    Q_task (B, C)                                  -> LayerNorm (the decoder's own, shared with
                                                      the prediction head)
    object queries   (B, Q - 1, C)                 :mod:`.query_transformer` from Q_task and the
                                                      mask features
    queries          (B, Q, C) = [object queries; Q_task]      also returned as
                                                               ``contrastive_queries`` (the input
                                                               of the contrastive loss)
    -> prediction head, then N layers of masked cross-attention (round-robin over strides 32, 16,
       8), self-attention, FFN, each followed by the prediction head   (as Mask2Former's)
    -> pred_logits (B, Q, K + 1), pred_masks (B, Q, H/4, W/4), aux_outputs (N earlier predictions)

Mask2Former has learned query *features*; OneFormer has none: its query features are computed
from the task, so one trained network gives different queries, hence different segments, for
"the task is semantic" and "the task is instance". The learned query *positions* remain
(``query_embed``, ``Q`` of them; the first ``Q - 1`` also serve the query transformer).

The class is a subclass of Mask2Former's decoder that holds only what the paper adds: the query
transformer and its input projection, and the :meth:`~OneFormerTransformerDecoder.initial_queries`
hook computing the queries from the task token (Mask2Former's learned ``query_feat`` is left out).
The layers, the prediction head, the attention mask (with its reset of fully masked rows) and the
round-robin over the levels are Mask2Former's own code; the mask embedding's width ``D`` is the
pixel decoder's ``conv_dim`` (``mask_dim = conv_dim`` in every published OneFormer).

Relation to ``transformers``' ``OneFormerTransformerModule`` (proven equal in the tests): the same
arithmetic; its ``decoder_layers`` counts the prediction from the initial queries too (10 for 9
layers), segedu's ``num_layers`` counts the layers. Its three ``input_projections`` are kept in a
plain Python list, so they are neither saved nor loaded: with ``conv_dim != hidden_dim`` its
outputs depend on convolutions that no checkpoint holds. Every published model has
``conv_dim == hidden_dim`` (256), where they are identities; segedu registers them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..mask2former import MultiScaleMaskedTransformerDecoder
from .query_transformer import QueryTransformer

__all__ = ["OneFormerTransformerDecoder"]


class OneFormerTransformerDecoder(MultiScaleMaskedTransformerDecoder):
    """Multi-scale maps, mask features and the task token -> class and mask predictions after
    every layer (module docstring): Mask2Former's decoder on task-conditioned queries.

    Args (keyword-only):
        in_channels: channels of the pixel decoder's maps and mask features (``conv_dim`` =
            ``mask_dim``).
        num_classes: ``K``; the class head has ``K + 1`` outputs (the last: no object).
        hidden_dim: ``C`` (256).
        num_queries: ``Q`` (150 in the paper for ADE20K and COCO, 250 for Cityscapes), the task
            token included.
        num_heads: attention heads (8).
        ffn_dim: feed-forward width (2048).
        num_layers: masked-attention layers ``N`` (9).
        query_layers: layers of the query transformer (2).
        use_task_norm: LayerNorm the task token and start the queries from it (True in every
            published model; False starts them from zeros).
        enforce_input_project: a 1x1 convolution on the maps even when
            ``in_channels == hidden_dim``.
    """

    # the query features are computed from the task (initial_queries), not learned
    learned_query_features = False

    def __init__(self, *, in_channels: int, num_classes: int, hidden_dim: int = 256,
                 num_queries: int = 150, num_heads: int = 8, ffn_dim: int = 2048,
                 num_layers: int = 9, query_layers: int = 2, use_task_norm: bool = True,
                 enforce_input_project: bool = False) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, hidden_dim=hidden_dim,
                         num_queries=num_queries, num_heads=num_heads, ffn_dim=ffn_dim,
                         num_layers=num_layers, mask_dim=in_channels,
                         enforce_input_project=enforce_input_project)
        if num_queries < 2:
            raise ValueError(f"num_queries counts the object queries and the task token: at least "
                             f"2, got {num_queries}")
        self.use_task_norm = use_task_norm
        # what OneFormer adds: the task-conditioned query initialisation
        self.query_transformer = QueryTransformer(dim=hidden_dim, num_heads=num_heads,
                                                  ffn_dim=ffn_dim, num_layers=query_layers)
        self.query_input_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)

    def initial_queries(self, mask_features: torch.Tensor, *,
                        task_token: torch.Tensor) -> torch.Tensor:
        """Mask features ``(B, D, H/4, W/4)`` and ``Q_task (B, C)``
        (:class:`~.task_token.TaskEncoder`) -> the decoder's input queries ``(B, Q, C)``:
        ``Q - 1`` object queries and the task token last."""
        if task_token.ndim != 2 or task_token.shape[0] != mask_features.shape[0]:
            raise ValueError(f"task_token must be (B, C) with B = {mask_features.shape[0]}, got "
                             f"{tuple(task_token.shape)}")
        # 1. the task token, normalised by the decoder's LayerNorm
        if self.use_task_norm:
            task_token = self.decoder_norm(task_token)
        # 2. the query transformer's memory: values = sine code of the grid, keys add F projected
        memory = self.pe_layer(mask_features).flatten(2).transpose(1, 2)  # (B, HW, C)
        pos = self.query_input_proj(mask_features).flatten(2).transpose(1, 2)  # (B, HW, C)
        start = task_token if self.use_task_norm else torch.zeros_like(task_token)
        objects = self.query_transformer(start, memory, pos=pos,
                                         query_pos=self.query_embed.weight[:-1])  # (B, Q - 1, C)
        # 3. the task token joins as the last query
        return torch.cat([objects, task_token.unsqueeze(1)], dim=1)  # (B, Q, C)

    def query_outputs(self, queries: torch.Tensor) -> dict:
        """The input queries ``(B, Q, C)`` are returned as ``contrastive_queries``, the input of
        the query-text contrastive loss (:mod:`.contrastive_loss`)."""
        return {"contrastive_queries": queries}
