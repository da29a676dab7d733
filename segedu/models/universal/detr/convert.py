r"""``transformers``' ``DetrForObjectDetection`` state dict -> segedu's :class:`~.model.DETR`.

The two networks compute the same thing with other names, and one other layout: ``transformers``
projects queries, keys and values with three ``Linear`` layers (``q_proj``, ``k_proj``,
``v_proj``), ``torch.nn.MultiheadAttention`` with one stacked matrix ``in_proj_weight`` (rows:
queries, then keys, then values), so the three are concatenated. The backbone is ``transformers``'
own ResNet (``use_timm_backbone=False``), whose layers map one to one onto segedu's
(torchvision's) names:

=====================================================  =========================================
transformers (``DetrForObjectDetection``)               segedu (``DETR``)
=====================================================  =========================================
``model.backbone.model.embedder.embedder.convolution``  ``backbone.conv1``
``...embedder.embedder.normalization``                  ``backbone.bn1``
``...encoder.stages.{s}.layers.{j}.layer.{k}.conv...``  ``backbone.layer{s+1}.{j}.conv{k+1}``
``...layers.{j}.layer.{k}.normalization``               ``backbone.layer{s+1}.{j}.bn{k+1}``
``...layers.{j}.shortcut.convolution / normalization``  ``backbone.layer{s+1}.{j}.downsample.0 / 1``
``model.input_projection``                              ``input_proj``
``model.query_position_embeddings``                     ``query_embed``
``model.encoder.layers.{i}.self_attn.{q,k,v}_proj``     ``transformer.encoder.{i}.self_attention
                                                        .self_attn.in_proj_*`` (stacked)
``...self_attn.o_proj``                                 ``...self_attention.self_attn.out_proj``
``...self_attn_layer_norm``                             ``...self_attention.norm``
``model.decoder.layers.{i}.encoder_attn.*``             ``transformer.decoder.{i}.cross_attention
                                                        .multihead_attn.*`` (as above)
``...encoder_attn_layer_norm``                          ``...cross_attention.norm``
``...mlp.fc1 / fc2``, ``...final_layer_norm``           ``...ffn.linear1 / 2``, ``...ffn.norm``
``model.decoder.layernorm``                             ``transformer.decoder_norm``
``class_labels_classifier``                             ``class_embed``
``bbox_predictor.layers.{j}``                           ``bbox_embed.layers.{j}``
=====================================================  =========================================

A key that none of these rules names raises ``ValueError`` (a timm backbone, a segmentation
head), so that nothing is dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_transformers_state_dict"]

_BACKBONE = "model.backbone.model."
# (pattern on the key without its tensor name, replacement): the first match wins
_RULES = [
    (r"^embedder\.embedder\.convolution$", "backbone.conv1"),
    (r"^embedder\.embedder\.normalization$", "backbone.bn1"),
    (r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.(convolution|normalization)$",
     lambda m: (f"backbone.layer{int(m[1]) + 1}.{m[2]}."
                f"{'conv' if m[4] == 'convolution' else 'bn'}{int(m[3]) + 1}")),
    (r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.(convolution|normalization)$",
     lambda m: (f"backbone.layer{int(m[1]) + 1}.{m[2]}.downsample."
                f"{0 if m[3] == 'convolution' else 1}")),
]
_TRANSFORMER_RULES = [
    (r"^model\.input_projection$", "input_proj"),
    (r"^model\.query_position_embeddings$", "query_embed"),
    (r"^model\.decoder\.layernorm$", "transformer.decoder_norm"),
    (r"^class_labels_classifier$", "class_embed"),
    (r"^bbox_predictor\.layers\.(\d+)$", r"bbox_embed.layers.\1"),
    (r"^model\.(encoder|decoder)\.layers\.(\d+)\.self_attn\.o_proj$",
     r"transformer.\1.\2.self_attention.self_attn.out_proj"),
    (r"^model\.(encoder|decoder)\.layers\.(\d+)\.self_attn_layer_norm$",
     r"transformer.\1.\2.self_attention.norm"),
    (r"^model\.decoder\.layers\.(\d+)\.encoder_attn\.o_proj$",
     r"transformer.decoder.\1.cross_attention.multihead_attn.out_proj"),
    (r"^model\.decoder\.layers\.(\d+)\.encoder_attn_layer_norm$",
     r"transformer.decoder.\1.cross_attention.norm"),
    (r"^model\.(encoder|decoder)\.layers\.(\d+)\.mlp\.fc(\d)$", r"transformer.\1.\2.ffn.linear\3"),
    (r"^model\.(encoder|decoder)\.layers\.(\d+)\.final_layer_norm$", r"transformer.\1.\2.ffn.norm"),
]
# q, k and v projections, stacked into nn.MultiheadAttention's in_proj_weight / in_proj_bias
_QKV = re.compile(r"^model\.(encoder|decoder)\.layers\.(\d+)\.(self_attn|encoder_attn)\."
                  r"([qkv])_proj\.(weight|bias)$")


def _rename(module: str) -> str | None:
    """The segedu name of a ``transformers`` module path, or ``None``."""
    if module.startswith(_BACKBONE):
        rules, module = _RULES, module.removeprefix(_BACKBONE)
    else:
        rules = _TRANSFORMER_RULES
    for pattern, replacement in rules:
        if re.match(pattern, module):
            return re.sub(pattern, replacement, module)
    return None


def convert_transformers_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of a ``transformers`` ``DetrForObjectDetection`` with a ``transformers``
    ResNet backbone -> the state dict of segedu's :class:`~.model.DETR` (see the module
    docstring for the names). ``ValueError`` names a key that no rule maps."""
    converted: dict[str, torch.Tensor] = {}
    stacks: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if key.endswith("num_batches_tracked"):  # a batch norm's counter: nothing to convert
            continue
        # 1. q, k, v projections: collected, stacked below
        qkv = _QKV.match(key)
        if qkv:
            part, index, attention, which, kind = qkv.groups()
            sub = ("self_attention.self_attn" if attention == "self_attn"
                   else "cross_attention.multihead_attn")
            stacks.setdefault((f"transformer.{part}.{index}.{sub}.in_proj_", kind), {})[which] = (
                tensor)
            continue
        # 2. every other tensor: renamed
        module, _, name = key.rpartition(".")
        renamed = _rename(module)
        if renamed is None:
            raise ValueError(f"no rule maps the transformers key {key!r} to segedu's DETR")
        converted[f"{renamed}.{name}"] = tensor
    for (prefix, kind), parts in stacks.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{prefix}{kind}: need q, k and v projections, got {sorted(parts)}")
        converted[prefix + kind] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return converted
