r"""``transformers``' ``CLIPSegForImageSegmentation`` weights -> segedu's :class:`~.model.CLIPSeg`.

The two compute the same thing with other names and two other layouts: ``transformers`` projects
queries, keys and values with three ``Linear`` layers (``q_proj``, ``k_proj``, ``v_proj``), where
segedu's CLIP layers (:class:`segedu.nn.vit.Attention`, ``qkv``) and decoder layers
(``nn.MultiheadAttention``, ``in_proj_weight``) hold one stacked matrix (rows: queries, keys,
values), so the three are concatenated; and its image positional embedding is an
``nn.Embedding`` ``(1 + N, D)`` where segedu keeps ViT's ``(1, 1 + N, D)``.

=======================================================  =========================================
transformers                                              segedu
=======================================================  =========================================
``clip.text_model.embeddings.token_embedding``            ``text.token_embedding``
``clip.text_model.embeddings.position_embedding.weight``  ``text.position_embedding``
``clip.text_model.final_layer_norm``                      ``text.final_norm``
``clip.text_projection``                                  ``text.projection``
``clip.vision_model.embeddings.class_embedding``          ``vision.class_embedding``
``clip.vision_model.embeddings.patch_embedding``          ``vision.patch_embed``
``clip.vision_model.embeddings.position_embedding``       ``vision.position_embedding`` (1, 1+N, D)
``clip.vision_model.pre_layrnorm / post_layernorm``       ``vision.pre_norm / post_norm``
``clip.visual_projection``                                ``vision.projection``
``clip.{text,vision}_model.encoder.layers.{i}.``          ``{text,vision}.layers.{i}.``
``  self_attn.{q,k,v}_proj / out_proj``                   ``  attn.qkv`` (stacked) ``/ attn.proj``
``  layer_norm1 / layer_norm2, mlp.fc1 / fc2``            ``  norm1 / norm2, mlp.lin1 / lin2``
``decoder.film_mul / film_add``                           ``decoder.film.mul / add``
``decoder.reduces.{i}``                                   ``decoder.reduces.{i}``
``decoder.transposed_convolution``                        ``decoder.upsample``
``decoder.layers.{i}.self_attn.{q,k,v}_proj / out_proj``  ``decoder.layers.{i}.self_attention.
                                                          self_attn.in_proj_* / out_proj``
``decoder.layers.{i}.layer_norm1``                        ``...self_attention.norm``
``decoder.layers.{i}.mlp.fc1 / fc2, layer_norm2``         ``...ffn.linear1 / linear2, ffn.norm``
=======================================================  =========================================

Dropped on purpose: ``clip.logit_scale`` (CLIP's contrastive temperature, which segmentation does
not use) and the ``position_ids`` index buffers that older checkpoints saved. Any other key that
no rule names raises ``ValueError``, so that nothing is dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_transformers_state_dict", "DROPPED"]

DROPPED = ("clip.logit_scale",)  # and every "...position_ids" buffer

# (pattern, replacement) on the whole key; the first match wins
_RULES = [
    (r"^clip\.text_model\.embeddings\.token_embedding\.", "text.token_embedding."),
    (r"^clip\.text_model\.embeddings\.position_embedding\.weight$", "text.position_embedding"),
    (r"^clip\.text_model\.final_layer_norm\.", "text.final_norm."),
    (r"^clip\.text_projection\.", "text.projection."),
    (r"^clip\.vision_model\.embeddings\.class_embedding$", "vision.class_embedding"),
    (r"^clip\.vision_model\.embeddings\.patch_embedding\.", "vision.patch_embed."),
    (r"^clip\.vision_model\.embeddings\.position_embedding\.weight$",
     "vision.position_embedding"),
    (r"^clip\.vision_model\.pre_layrnorm\.", "vision.pre_norm."),
    (r"^clip\.vision_model\.post_layernorm\.", "vision.post_norm."),
    (r"^clip\.visual_projection\.", "vision.projection."),
    # CLIP's layers (text and image)
    (r"^clip\.(text|vision)_model\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.",
     lambda m: f"{m[1]}.layers.{m[2]}.attn.proj."),
    (r"^clip\.(text|vision)_model\.encoder\.layers\.(\d+)\.layer_norm(\d)\.",
     lambda m: f"{m[1]}.layers.{m[2]}.norm{m[3]}."),
    (r"^clip\.(text|vision)_model\.encoder\.layers\.(\d+)\.mlp\.fc(\d)\.",
     lambda m: f"{m[1]}.layers.{m[2]}.mlp.lin{m[3]}."),
    # the decoder
    (r"^decoder\.film_(mul|add)\.", lambda m: f"decoder.film.{m[1]}."),
    (r"^decoder\.reduces\.", "decoder.reduces."),
    (r"^decoder\.transposed_convolution\.", "decoder.upsample."),
    (r"^decoder\.layers\.(\d+)\.self_attn\.out_proj\.",
     lambda m: f"decoder.layers.{m[1]}.self_attention.self_attn.out_proj."),
    (r"^decoder\.layers\.(\d+)\.layer_norm1\.",
     lambda m: f"decoder.layers.{m[1]}.self_attention.norm."),
    (r"^decoder\.layers\.(\d+)\.mlp\.fc(\d)\.",
     lambda m: f"decoder.layers.{m[1]}.ffn.linear{m[2]}."),
    (r"^decoder\.layers\.(\d+)\.layer_norm2\.", lambda m: f"decoder.layers.{m[1]}.ffn.norm."),
]
# query / key / value projections, stacked into one matrix: (prefix, q|k|v, weight|bias)
_QKV = re.compile(r"^(.*)\.self_attn\.([qkv])_proj\.(weight|bias)$")


def _stacked_name(prefix: str, tensor: str) -> str:
    """segedu's name of the stacked projection of the layer ``prefix`` (a transformers key)."""
    m = re.fullmatch(r"clip\.(text|vision)_model\.encoder\.layers\.(\d+)", prefix)
    if m:
        return f"{m[1]}.layers.{m[2]}.attn.qkv.{tensor}"
    m = re.fullmatch(r"decoder\.layers\.(\d+)", prefix)
    if m:
        return f"decoder.layers.{m[1]}.self_attention.self_attn.in_proj_{tensor}"
    raise ValueError(f"no rule converts the attention of {prefix!r}")


def convert_transformers_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """``CLIPSegForImageSegmentation.state_dict()`` (or the published checkpoint's) -> the
    state dict of the :class:`~.model.CLIPSeg` of the same sizes (module docstring)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        if key in DROPPED or key.endswith("position_ids"):
            continue
        m = _QKV.match(key)
        if m:  # collected, stacked below
            qkv.setdefault((m[1], m[3]), {})[m[2]] = value
            continue
        for pattern, replacement in _RULES:
            if re.match(pattern, key):
                out[re.sub(pattern, replacement, key, count=1)] = value
                break
        else:
            raise ValueError(f"no rule converts transformers' key {key!r} (is it a "
                             "CLIPSegForImageSegmentation state dict?)")
    for (prefix, tensor), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{prefix}: the attention needs q, k and v projections, found "
                             f"{sorted(parts)}")
        out[_stacked_name(prefix, tensor)] = torch.cat([parts["q"], parts["k"], parts["v"]])
    # the image's positional embeddings as ViT keeps them: (1, 1 + N, D)
    if "vision.position_embedding" in out:
        out["vision.position_embedding"] = out["vision.position_embedding"][None]
    return out
