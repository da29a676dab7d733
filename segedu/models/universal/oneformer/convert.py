r"""``transformers``' ``OneFormerForUniversalSegmentation`` state dict -> segedu's
:class:`~.model.OneFormer`.

The published checkpoints (``shi-labs/oneformer_ade20k_swin_tiny`` and the others on the
HuggingFace Hub) hold ``transformers``' names; the original's detectron2 checkpoints are not
read here. The mapping (``transformers`` -> segedu, prefix ``model.`` left out):

- the Swin backbone, ``pixel_level_module.encoder.swin.*`` -> ``backbone.swin.*``: the patch
  embedding's ``projection`` and ``norm`` -> ``patch_embed.proj``, ``patch_embed.norm``; block
  ``encoder.layers.{i}.blocks.{j}`` -> ``stages.{i}.blocks.{j}``, its separate
  ``attention.{q,k,v}_proj`` stacked into ``attn.qkv``, ``attention.o_proj`` -> ``attn.proj``,
  the bias table -> ``attn.relative_position_bias_table``, ``layernorm_before/after`` ->
  ``norm1/2``; ``encoder.layers.{i}.downsample`` (end of stage ``i``) -> ``stages.{i+1}.downsample``
  (start of the next); ``hidden_states_norms.stage{k}`` -> ``backbone.norms.{k-1}``; the final
  ``layernorm``, which ``SwinBackbone`` never uses, is dropped;
- the pixel decoder, ``pixel_level_module.decoder.*`` -> ``pixel_decoder.*`` in Mask2Former's (the
  original's) names (``input_proj``, ``mask_features``, ``transformer.level_embed``,
  ``transformer.encoder.layers.{i}`` with ``norm1/2``, ``linear1/2``, ``adapter_1``, ``layer_1``);
- the transformer module -> ``predictor``: ``queries_embedder`` -> ``query_embed``,
  ``input_projections`` -> ``input_proj``, ``decoder.query_transformer.decoder.*`` ->
  ``query_transformer.*`` (each DETR layer's ``norm1/2/3`` -> ``self_attention.norm``,
  ``cross_attention.norm``, ``ffn.norm``), ``decoder.layers.{i}.cross_attn/self_attn/ffn`` ->
  ``transformer_{cross_attention,self_attention,ffn}_layers.{i}`` (the self-attention's
  ``q/k/v_proj`` stacked into ``in_proj``), ``query_input_projection`` -> ``query_input_proj``,
  ``mask_embed.layers.{j}.0`` -> ``mask_embed.layers.{j}``;
- ``task_encoder.task_mlp.layers.{j}.0`` -> ``task_encoder.mlp.layers.{j}``;
- ``text_mapper.text_encoder.transformer.layers`` -> ``text_mapper.text_encoder.layers``,
  ``text_projector.layers.{j}.0`` -> ``text_projector.layers.{j}``;
- ``criterion.logit_scale`` -> ``contrastive.logit_scale``; ``criterion.empty_weight`` (the set
  criterion's class weights, which segedu makes itself) is dropped.

A key that no rule maps raises ``ValueError`` naming it, so that nothing is dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_transformers_state_dict"]

_DROPPED = re.compile(r"^(criterion\.empty_weight|model\.pixel_level_module\.encoder\.swin\."
                      r"layernorm\.(weight|bias))$")
# (pattern on the name without "model.", replacement); the first match wins
_RULES = [
    # the Swin backbone
    (r"^pixel_level_module\.encoder\.swin\.embeddings\.patch_embeddings\.projection\.",
     "backbone.swin.patch_embed.proj."),
    (r"^pixel_level_module\.encoder\.swin\.embeddings\.norm\.", "backbone.swin.patch_embed.norm."),
    (r"^pixel_level_module\.encoder\.swin\.encoder\.layers\.(\d+)\.downsample\.",
     lambda m: f"backbone.swin.stages.{int(m[1]) + 1}.downsample."),
    (r"^pixel_level_module\.encoder\.swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.",
     r"backbone.swin.stages.\1.blocks.\2."),
    (r"^pixel_level_module\.encoder\.hidden_states_norms\.stage(\d)\.",
     lambda m: f"backbone.norms.{int(m[1]) - 1}."),
    # the pixel decoder, in Mask2Former's (the original's) names
    (r"^pixel_level_module\.decoder\.level_embed$", "pixel_decoder.transformer.level_embed"),
    (r"^pixel_level_module\.decoder\.input_projections\.", "pixel_decoder.input_proj."),
    (r"^pixel_level_module\.decoder\.mask_projection\.", "pixel_decoder.mask_features."),
    (r"^pixel_level_module\.decoder\.encoder\.layers\.",
     "pixel_decoder.transformer.encoder.layers."),
    (r"^pixel_level_module\.decoder\.(adapter_1|layer_1)\.0\.", r"pixel_decoder.\1."),
    (r"^pixel_level_module\.decoder\.(adapter_1|layer_1)\.1\.", r"pixel_decoder.\1.norm."),
    # the transformer decoder
    (r"^transformer_module\.queries_embedder\.", "predictor.query_embed."),
    (r"^transformer_module\.level_embed\.", "predictor.level_embed."),
    (r"^transformer_module\.input_projections\.", "predictor.input_proj."),
    (r"^transformer_module\.decoder\.query_transformer\.decoder\.norm\.",
     "predictor.query_transformer.norm."),
    (r"^transformer_module\.decoder\.query_transformer\.decoder\.layers\.",
     "predictor.query_transformer.layers."),
    (r"^transformer_module\.decoder\.layers\.(\d+)\.cross_attn\.",
     r"predictor.transformer_cross_attention_layers.\1."),
    (r"^transformer_module\.decoder\.layers\.(\d+)\.self_attn\.",
     r"predictor.transformer_self_attention_layers.\1."),
    (r"^transformer_module\.decoder\.layers\.(\d+)\.ffn\.",
     r"predictor.transformer_ffn_layers.\1."),
    (r"^transformer_module\.decoder\.query_input_projection\.", "predictor.query_input_proj."),
    (r"^transformer_module\.decoder\.mask_embed\.layers\.(\d+)\.0\.",
     r"predictor.mask_embed.layers.\1."),
    (r"^transformer_module\.decoder\.(decoder_norm|class_embed)\.", r"predictor.\1."),
    # the task MLP and the text mapper
    (r"^task_encoder\.task_mlp\.layers\.(\d+)\.0\.", r"task_encoder.mlp.layers.\1."),
    (r"^text_mapper\.text_encoder\.transformer\.layers\.", "text_mapper.text_encoder.layers."),
    (r"^text_mapper\.text_projector\.layers\.(\d+)\.0\.", r"text_mapper.text_projector.layers.\1."),
    (r"^text_mapper\.(text_encoder|prompt_ctx)\.", r"text_mapper.\1."),
]
# renames inside the modules reached above: (pattern, replacement) applied in turn
_INNER = [
    # Swin blocks
    (r"\.attention\.o_proj\.", ".attn.proj."),
    (r"\.attention\.relative_position_bias\.relative_position_bias_table$",
     ".attn.relative_position_bias_table"),
    (r"\.layernorm_before\.", ".norm1."), (r"\.layernorm_after\.", ".norm2."),
    # the pixel decoder's encoder layers
    (r"\.self_attn_layer_norm\.", ".norm1."), (r"\.final_layer_norm\.", ".norm2."),
    (r"(transformer\.encoder\.layers\.\d+)\.fc([12])\.", r"\1.linear\2."),
    # the query transformer's DETR layers: norm1/2/3 belong to self-, cross-attention and FFN
    (r"(query_transformer\.layers\.\d+)\.self_attn\.", r"\1.self_attention.self_attn."),
    (r"(query_transformer\.layers\.\d+)\.norm1\.", r"\1.self_attention.norm."),
    (r"(query_transformer\.layers\.\d+)\.multihead_attn\.",
     r"\1.cross_attention.multihead_attn."),
    (r"(query_transformer\.layers\.\d+)\.norm2\.", r"\1.cross_attention.norm."),
    (r"(query_transformer\.layers\.\d+)\.(linear[12])\.", r"\1.ffn.\2."),
    (r"(query_transformer\.layers\.\d+)\.norm3\.", r"\1.ffn.norm."),
    # the masked decoder's self-attention: transformers' DETR attention inside a wrapper
    (r"(transformer_self_attention_layers\.\d+)\.self_attn\.self_attn\.", r"\1.self_attn."),
]
# separate query, key and value projections that segedu stacks into one
_SPLIT_QKV = re.compile(r"^(.*)\.(?:attention|self_attn)\.([qkv])_proj\.(weight|bias)$")


def _rename(key: str) -> str | None:
    """One ``transformers`` key (without ``model.``) -> segedu's, or None if no rule maps it."""
    for pattern, replacement in _RULES:
        if re.match(pattern, key):
            name = re.sub(pattern, replacement, key)
            for inner, new in _INNER:
                name = re.sub(inner, new, name)
            return name
    return None


def convert_transformers_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of a ``transformers`` ``OneFormerForUniversalSegmentation`` -> the state
    dict of segedu's :class:`~.model.OneFormer` (see the module docstring). ``ValueError`` names
    a key that no rule maps."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping of names to tensors, got {type(state).__name__}")
    converted: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if _DROPPED.match(key):
            continue
        if key == "criterion.logit_scale":
            converted["contrastive.logit_scale"] = tensor
            continue
        name = _rename(key.removeprefix("model."))
        if name is None:
            raise ValueError(f"no rule maps the transformers key {key!r} to segedu's OneFormer")
        split = _SPLIT_QKV.match(name)
        if split:  # collected, stacked below
            qkv.setdefault((split[1], split[3]), {})[split[2]] = tensor
            continue
        converted[name] = tensor
    for (module, param), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{module}: needs q, k and v projections, got {sorted(parts)}")
        stacked = torch.cat([parts["q"], parts["k"], parts["v"]])
        # a Swin window attention's one "qkv" linear, or nn.MultiheadAttention's in_proj
        target = (f"{module}.attn.qkv.{param}" if module.startswith("backbone.")
                  else f"{module}.self_attn.in_proj_{param}")
        converted[target] = stacked
    return converted
