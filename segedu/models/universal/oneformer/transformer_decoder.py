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

The layers are the shared :mod:`segedu.nn.transformer_layers` (post-norm, no dropout) and the
attention mask is Mask2Former's (:func:`~segedu.models.universal.mask2former.
attention_mask_from_masks`, with its reset of fully masked rows), so this decoder differs from
Mask2Former's exactly where the paper says.

Relation to ``transformers``' ``OneFormerTransformerModule`` (proven equal in the tests): the same
arithmetic; its ``decoder_layers`` counts the prediction from the initial queries too (10 for 9
layers), segedu's ``num_layers`` counts the layers. Its three ``input_projections`` are kept in a
plain Python list, so they are neither saved nor loaded: with ``conv_dim != hidden_dim`` its
outputs depend on convolutions that no checkpoint holds. Every published model has
``conv_dim == hidden_dim`` (256), where they are identities; segedu registers them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....nn.mlp import MLP
from ....nn.position_encoding import PositionEmbeddingSine
from ....nn.transformer_layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from ..mask2former import attention_mask_from_masks, reset_fully_masked_rows
from .query_transformer import QueryTransformer

__all__ = ["OneFormerTransformerDecoder"]


class OneFormerTransformerDecoder(nn.Module):
    """Multi-scale maps, mask features and the task token -> class and mask predictions after
    every layer (module docstring).

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

    num_levels = 3

    def __init__(self, *, in_channels: int, num_classes: int, hidden_dim: int = 256,
                 num_queries: int = 150, num_heads: int = 8, ffn_dim: int = 2048,
                 num_layers: int = 9, query_layers: int = 2, use_task_norm: bool = True,
                 enforce_input_project: bool = False) -> None:
        super().__init__()
        if num_queries < 2:
            raise ValueError(f"num_queries counts the object queries and the task token: at least "
                             f"2, got {num_queries}")
        self.num_heads, self.use_task_norm = num_heads, use_task_norm
        self.pe_layer = PositionEmbeddingSine(num_pos_feats=hidden_dim // 2, normalize=True)
        # learned positions of the Q queries, and one embedding per feature level
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(self.num_levels, hidden_dim)
        self.input_proj = nn.ModuleList(
            nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
            if in_channels != hidden_dim or enforce_input_project else nn.Identity()
            for _ in range(self.num_levels))
        # the task-conditioned query initialisation
        self.query_transformer = QueryTransformer(dim=hidden_dim, num_heads=num_heads,
                                                  ffn_dim=ffn_dim, num_layers=query_layers)
        self.query_input_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
        # Mask2Former's N layers
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(dim=hidden_dim, num_heads=num_heads) for _ in range(num_layers))
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(dim=hidden_dim, num_heads=num_heads) for _ in range(num_layers))
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(dim=hidden_dim, ffn_dim=ffn_dim)
                                                    for _ in range(num_layers))
        # the prediction head (its LayerNorm also normalises the task token)
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(input_dim=hidden_dim, hidden_dim=hidden_dim, output_dim=in_channels,
                              num_layers=3)

    def predict(self, queries: torch.Tensor, mask_features: torch.Tensor,
                attn_mask_size: tuple[int, int]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries ``(B, Q, C)`` -> class logits ``(B, Q, K + 1)``, mask logits
        ``(B, Q, H/4, W/4)`` and the next layer's attention mask ``(B * heads, Q, h * w)``."""
        decoded = self.decoder_norm(queries)
        class_logits = self.class_embed(decoded)
        mask_logits = torch.einsum("bqc,bchw->bqhw", self.mask_embed(decoded), mask_features)
        return class_logits, mask_logits, attention_mask_from_masks(mask_logits, attn_mask_size,
                                                                    self.num_heads)

    def initial_queries(self, task_token: torch.Tensor,
                        mask_features: torch.Tensor) -> torch.Tensor:
        """``Q_task (B, C)`` and mask features ``(B, D, H/4, W/4)`` -> the decoder's input
        queries ``(B, Q, C)``: ``Q - 1`` object queries and the task token last."""
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

    def forward(self, multi_scale_features: Sequence[torch.Tensor], mask_features: torch.Tensor,
                task_token: torch.Tensor) -> dict:
        """Decode.

        Args:
            multi_scale_features: three maps ``(B, C_in, h_l, w_l)``, strides 32, 16, 8.
            mask_features: ``(B, C_in, H/4, W/4)``.
            task_token: ``Q_task (B, C)`` (:class:`~.task_token.TaskEncoder`).

        Returns:
            ``{"pred_logits": (B, Q, K + 1), "pred_masks": (B, Q, H/4, W/4), "aux_outputs": [...],
            "contrastive_queries": (B, Q, C)}``.
        """
        if len(multi_scale_features) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} feature maps, got "
                             f"{len(multi_scale_features)}")
        if task_token.ndim != 2 or task_token.shape[0] != mask_features.shape[0]:
            raise ValueError(f"task_token must be (B, C) with B = {mask_features.shape[0]}, got "
                             f"{tuple(task_token.shape)}")
        # 1. keys/values of each level (tokens (B, h_l w_l, C)) and their positional code
        memories, positions, sizes = [], [], []
        for level, x in enumerate(multi_scale_features):
            sizes.append((x.shape[-2], x.shape[-1]))
            positions.append(self.pe_layer(x).flatten(2).transpose(1, 2))
            memory = (self.input_proj[level](x).flatten(2)
                      + self.level_embed.weight[level][None, :, None])
            memories.append(memory.transpose(1, 2))
        # 2. the task-conditioned queries and their learned positions: (B, Q, C)
        queries = self.initial_queries(task_token, mask_features)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(queries.shape[0], -1, -1)
        # 3. Mask2Former's layers, a prediction before the first and after each
        output = queries
        class_logits, mask_logits, attn_mask = self.predict(output, mask_features, sizes[0])
        predictions = [(class_logits, mask_logits)]
        for i in range(len(self.transformer_ffn_layers)):
            level = i % self.num_levels  # strides 32, 16, 8, 32, ...
            attn_mask = reset_fully_masked_rows(attn_mask)
            output = self.transformer_cross_attention_layers[i](
                output, memories[level], attn_mask=attn_mask, pos=positions[level],
                query_pos=query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos)
            output = self.transformer_ffn_layers[i](output)
            class_logits, mask_logits, attn_mask = self.predict(
                output, mask_features, sizes[(i + 1) % self.num_levels])
            predictions.append((class_logits, mask_logits))
        return {
            "pred_logits": predictions[-1][0],
            "pred_masks": predictions[-1][1],
            "aux_outputs": [{"pred_logits": c, "pred_masks": m} for c, m in predictions[:-1]],
            "contrastive_queries": queries,
        }
