r"""Mask2Former's transformer decoder with masked attention
(``MultiScaleMaskedTransformerDecoder``).

``Q`` learnable queries (a feature ``query_feat`` and a positional embedding ``query_embed`` each)
are refined by ``N`` layers. Each layer, in this order (the paper's Fig. 3):

1. **masked cross-attention** to one level of the pixel decoder's features: query ``q`` attends
   only to the pixels inside the mask it predicted after the previous layer (see
   :mod:`.masked_attention`); queries carry ``query_embed``, keys the sine code of their pixel;
2. **self-attention** among the queries (queries and keys carry ``query_embed``);
3. a **feed-forward network**;

each with a residual connection and a LayerNorm after it (post-norm). Cross-attention comes first
so that the learnable query features, not yet image-dependent, meet the image at once.

The layers cycle **round-robin** over the three feature levels, lowest resolution first: layer
``i`` attends to level ``i mod 3``, i.e. strides 32, 16, 8, 32, 16, 8, ... (9 layers = 3 rounds
in the paper). Each level gets a learned level embedding added to its features.

A shared **prediction head** runs on the LayerNorm-ed queries before the first layer and after
every layer, ``N + 1`` predictions in all:

- class logits: ``Linear(C -> num_classes + 1)``, the last class being "no object";
- mask logits: ``MLP(C -> C -> C -> D)`` gives a mask embedding per query, dotted with every
  pixel's mask feature: ``mask[q, y, x] = <embed_q, mask_features[:, y, x]>`` at stride 4.

The prediction after layer ``i`` also gives the attention mask of layer ``i + 1``, at the resolution
of level ``(i + 1) mod 3``. The last prediction is the output; the ``N`` earlier ones are the
``aux_outputs`` of deep supervision (every one is matched and supervised in training).

Where a query model differs from Mask2Former only in its queries (OneFormer computes them from the
task), it subclasses this decoder and overrides :meth:`~MultiScaleMaskedTransformerDecoder.
initial_queries` (and :meth:`~MultiScaleMaskedTransformerDecoder.query_outputs` to return more),
setting ``learned_query_features = False`` when it has no ``query_feat``.

Relation to the references: the same parameters (names included: ``query_feat``, ``query_embed``,
``level_embed``, ``input_proj``, ``transformer_cross_attention_layers.{i}.multihead_attn``,
``transformer_self_attention_layers.{i}.self_attn``, ``transformer_ffn_layers.{i}.linear1``,
``decoder_norm``, ``class_embed``, ``mask_embed.layers.{j}``), initialisation and arithmetic as
facebookresearch/Mask2Former's ``MultiScaleMaskedTransformerDecoder`` with ``PRE_NORM False`` and
dropout 0 (the paper's setting; pre-norm and dropout are left out). ``num_layers`` counts the layers
themselves: the original's config says ``DEC_LAYERS: 10`` for 9 layers (one extra for the loss on
the learnable queries). ``transformers``' ``Mask2FormerMaskedAttentionDecoder`` computes the same
thing with other names; it keeps the class head outside (``class_predictor`` of
``Mask2FormerForUniversalSegmentation``) and, unlike the original, uses the config's ``dropout`` as
a LayerDrop probability in training (a layer is skipped at random), which only matters with
``dropout > 0``. segedu follows the original. Tensors are batch-first here ``(B, Q, C)``; the
original uses ``(Q, B, C)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....nn.mlp import MLP
from ....nn.position_encoding import PositionEmbeddingSine
from ....nn.transformer_layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from ..set_prediction import attention_mask_from_masks, reset_fully_masked_rows

__all__ = ["MultiScaleMaskedTransformerDecoder"]


class MultiScaleMaskedTransformerDecoder(nn.Module):
    """Queries -> class and mask predictions after every layer (see the module docstring).

    Args (keyword-only):
        in_channels: channels of the pixel decoder's multi-scale maps.
        num_classes: ``K`` object classes; the class head has ``K + 1`` outputs
            (the last: no object).
        hidden_dim: ``C``, the query width (256).
        num_queries: ``Q`` (100 in the paper, 200 for its Swin-L models).
        num_heads: attention heads (8).
        ffn_dim: feed-forward width (2048).
        num_layers: decoder layers ``N`` (9).
        mask_dim: ``D``, the channels of the mask features (256).
        enforce_input_project: add a 1x1 convolution on the maps even when
            ``in_channels == hidden_dim``.
    """

    num_levels = 3
    # Mask2Former learns its query features (``query_feat``); a subclass that computes them
    # (OneFormer) sets this to False and overrides :meth:`initial_queries`
    learned_query_features = True

    def __init__(self, *, in_channels: int, num_classes: int, hidden_dim: int = 256,
                 num_queries: int = 100,
                 num_heads: int = 8, ffn_dim: int = 2048, num_layers: int = 9, mask_dim: int = 256,
                 enforce_input_project: bool = False) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("num_queries", num_queries),
                        ("num_layers", num_layers),
                        ("hidden_dim", hidden_dim), ("num_heads", num_heads)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if hidden_dim % 4:
            raise ValueError("hidden_dim must be a multiple of 4 (for its positional code), got "
                             f"{hidden_dim}")
        self.num_classes, self.num_heads, self.num_layers = num_classes, num_heads, num_layers
        # sine code of the pixel positions of the keys
        self.pe_layer = PositionEmbeddingSine(num_pos_feats=hidden_dim // 2, normalize=True)
        # the N layers: masked cross-attention, self-attention, FFN
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(dim=hidden_dim, num_heads=num_heads) for _ in range(num_layers))
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(dim=hidden_dim, num_heads=num_heads) for _ in range(num_layers))
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(dim=hidden_dim, ffn_dim=ffn_dim)
                                                    for _ in range(num_layers))
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        # learnable query features (the decoder's input) and query positional embeddings
        self.num_queries = num_queries
        self.query_feat = (nn.Embedding(num_queries, hidden_dim) if self.learned_query_features
                           else None)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        # one learned embedding per feature level; 1x1 projections only when the widths differ
        self.level_embed = nn.Embedding(self.num_levels, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(self.num_levels):
            if in_channels != hidden_dim or enforce_input_project:
                proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
                nn.init.kaiming_uniform_(proj.weight, a=1)  # detectron2's c2_xavier_fill
                nn.init.zeros_(proj.bias)
                self.input_proj.append(proj)
            else:
                self.input_proj.append(nn.Identity())
        # the prediction head, shared by all layers
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(
            input_dim=hidden_dim, hidden_dim=hidden_dim, output_dim=mask_dim, num_layers=3
        )

    def forward_prediction_heads(self, output: torch.Tensor, mask_features: torch.Tensor,
                                 attn_mask_size: tuple[int, int]
                                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries ``(B, Q, C)`` -> class logits ``(B, Q, K + 1)``, mask logits ``(B, Q, H/4, W/4)``
        and the next layer's attention mask ``(B * heads, Q, h * w)`` at
        ``attn_mask_size = (h, w)``."""
        # 1. LayerNorm, then the class logits of each query
        decoded = self.decoder_norm(output)
        class_logits = self.class_embed(decoded)
        # 2. mask embedding of each query dotted with each pixel's mask feature
        mask_embed = self.mask_embed(decoded)  # (B, Q, D)
        mask_logits = torch.einsum("bqc,bchw->bqhw", mask_embed, mask_features)
        # 3. the masked-attention mask for the next layer
        attn_mask = attention_mask_from_masks(mask_logits, attn_mask_size, self.num_heads)
        return class_logits, mask_logits, attn_mask

    def initial_queries(self, mask_features: torch.Tensor) -> torch.Tensor:
        """The decoder's input queries ``(B, Q, C)``: the learned query features, one copy per
        image of ``mask_features (B, D, H/4, W/4)``. A subclass overrides this hook (with keyword
        arguments of its own, which :meth:`forward` passes on)."""
        return self.query_feat.weight.unsqueeze(0).repeat(mask_features.shape[0], 1, 1)

    def query_outputs(self, queries: torch.Tensor) -> dict:
        """What :meth:`forward` returns besides the predictions, from the input queries
        ``(B, Q, C)``: nothing for Mask2Former (a subclass's hook)."""
        return {}

    def forward(self, multi_scale_features: Sequence[torch.Tensor],
                mask_features: torch.Tensor, **query_inputs: torch.Tensor) -> dict:
        """Decode.

        Args:
            multi_scale_features: three maps ``(B, C_in, h_l, w_l)``, lowest resolution first
                (strides 32, 16, 8 from the pixel decoder).
            mask_features: ``(B, D, H/4, W/4)``.
            query_inputs: keyword arguments of :meth:`initial_queries` (none for Mask2Former;
                OneFormer's ``task_token``).

        Returns:
            ``{"pred_logits": (B, Q, K + 1), "pred_masks": (B, Q, H/4, W/4),
            "aux_outputs": [...]}`` and :meth:`query_outputs`,
            ``aux_outputs`` the ``N`` earlier predictions (from the initial queries, then after
            layers ``1 .. N - 1``), each a dict with ``pred_logits`` and ``pred_masks``.
        """
        if len(multi_scale_features) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} feature maps, got "
                             f"{len(multi_scale_features)}")
        if (mask_features.ndim != 4
            or mask_features.shape[1] != self.mask_embed.layers[-1].out_features):
            raise ValueError("mask_features must be (B, "
                             f"{self.mask_embed.layers[-1].out_features}, H, W), got "
                             f"{tuple(mask_features.shape)}")
        # 1. keys/values of each level: projected features + level embedding, and their positional
        #    code, flattened to tokens (B, h_l w_l, C)
        memories, positions, sizes = [], [], []
        for level, x in enumerate(multi_scale_features):
            sizes.append((x.shape[-2], x.shape[-1]))
            positions.append(self.pe_layer(x).flatten(2).transpose(1, 2))
            memory = (self.input_proj[level](x).flatten(2)
                      + self.level_embed.weight[level][None, :, None])
            memories.append(memory.transpose(1, 2))
        # 2. the initial queries (B, Q, C) (Mask2Former's learned ones) and their positions
        queries = self.initial_queries(mask_features, **query_inputs)
        query_pos = self.query_embed.weight.unsqueeze(0).repeat(queries.shape[0], 1, 1)
        output = queries
        # 3. prediction from the initial queries alone; its mask restricts the first layer
        class_logits, mask_logits, attn_mask = self.forward_prediction_heads(output, mask_features,
                                                                             sizes[0])
        predictions = [(class_logits, mask_logits)]
        for i in range(self.num_layers):
            level = i % self.num_levels  # round-robin: strides 32, 16, 8, 32, ...
            # 4. an empty predicted mask would mask every key: let such queries attend everywhere
            attn_mask = reset_fully_masked_rows(attn_mask)
            # 5. masked cross-attention, self-attention, FFN
            output = self.transformer_cross_attention_layers[i](output, memories[level],
                                                                attn_mask=attn_mask,
                                                                pos=positions[level],
                                                                query_pos=query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos)
            output = self.transformer_ffn_layers[i](output)
            # 6. predict again; the mask, at the next layer's level, restricts that layer
            class_logits, mask_logits, attn_mask = self.forward_prediction_heads(
                output, mask_features, sizes[(i + 1) % self.num_levels])
            predictions.append((class_logits, mask_logits))
        # 7. the last prediction is the output, the earlier ones supervise the intermediate layers
        return {
            "pred_logits": predictions[-1][0],
            "pred_masks": predictions[-1][1],
            "aux_outputs": [{"pred_logits": c, "pred_masks": m} for c, m in predictions[:-1]],
            **self.query_outputs(queries),
        }
