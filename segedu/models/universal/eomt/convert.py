r"""``transformers``' ``EomtForUniversalSegmentation`` state dict -> segedu's :class:`~.model.Eomt`.

The published checkpoints (``tue-mps/coco_panoptic_eomt_large_640`` ... on the HuggingFace Hub, a
``model.safetensors`` each) hold ``transformers``' names. The ViT part (embeddings, ``layers``,
``layernorm``) is DINOv2's and goes through
:func:`segedu.models.foundation.dinov2.convert.convert_dinov2_state_dict` after two renames
(``layers.i`` is ``Dinov2Model``'s ``encoder.layer.i``, ``attention.out_proj`` its
``attention.o_proj``); that function stacks the separate query, key and value projections into
one ``qkv`` and SwiGLU's gate and up projections into ``w12``. The rest is EoMT's own:

=====================================================  ==========================================
transformers                                           segedu
=====================================================  ==========================================
``embeddings.position_embeddings.weight`` ``(N, D)``   ``embeddings.pos_embed`` ``(1, N, D)``
``query.weight``                                       ``query.weight``
``class_predictor``                                    ``head.class_head``
``mask_head.fc1`` / ``fc2`` / ``fc3``                  ``head.mask_head.layers.0`` / ``1`` / ``2``
``upscale_block.block.i.conv1`` / ``conv2``            ``head.upscale.i.conv1`` / ``conv2``
``upscale_block.block.i.layernorm2d``                  ``head.upscale.i.norm``
``attn_mask_probs``                                    ``attn_mask_probs``
``criterion.empty_weight``                             (dropped: the loss's class weights, which
                                                       segedu's set criterion makes itself)
=====================================================  ==========================================

A key that no rule maps raises ``ValueError`` naming it, so that nothing is dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ...foundation.dinov2.convert import convert_dinov2_state_dict

__all__ = ["convert_transformers_state_dict"]

# EoMT's own tensors: (pattern, replacement); the first match wins
_RULES = [
    (r"^query\.weight$", "query.weight"),
    (r"^attn_mask_probs$", "attn_mask_probs"),
    (r"^class_predictor\.(weight|bias)$", r"head.class_head.\1"),
    (r"^mask_head\.fc([123])\.(weight|bias)$",
     lambda m: f"head.mask_head.layers.{int(m[1]) - 1}.{m[2]}"),
    (r"^upscale_block\.block\.(\d+)\.(conv[12])\.(weight|bias)$", r"head.upscale.\1.\2.\3"),
    (r"^upscale_block\.block\.(\d+)\.layernorm2d\.(weight|bias)$", r"head.upscale.\1.norm.\2"),
]
# the ViT's tensors, renamed to Dinov2Model's names for convert_dinov2_state_dict
_VIT = re.compile(r"^(embeddings\.(cls_token|register_tokens|patch_embeddings\..*)|layernorm\..*"
                  r"|layers\..*)$")
_DROPPED = {"criterion.empty_weight"}


def convert_transformers_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of a ``transformers`` ``EomtForUniversalSegmentation`` -> the state dict of
    segedu's :class:`~.model.Eomt` (see the module docstring for the names). ``ValueError``
    names a key that no rule maps."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping of names to tensors, got {type(state).__name__}")
    converted: dict[str, torch.Tensor] = {}
    vit: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key in _DROPPED:
            continue
        # 1. the ViT: collected under Dinov2Model's names, converted below
        if _VIT.match(key):
            key = re.sub(r"^layers\.", "encoder.layer.", key)
            vit[key.replace(".attention.out_proj.", ".attention.o_proj.")] = tensor
            continue
        # 2. the patch positions: one row per patch, no class token
        if key == "embeddings.position_embeddings.weight":
            converted["embeddings.pos_embed"] = tensor[None]
            continue
        # 3. queries, heads, annealing probabilities: renamed
        for pattern, replacement in _RULES:
            if re.match(pattern, key):
                converted[re.sub(pattern, replacement, key)] = tensor
                break
        else:
            raise ValueError(f"no rule maps the transformers key {key!r} to segedu's EoMT")
    converted.update(convert_dinov2_state_dict(vit))
    return converted
