r"""transformers' DINOv2 state dicts -> segedu's :class:`~.model.Dinov2`.

The published checkpoints (``facebook/dinov2-small`` ... ``facebook/dinov2-giant``,
``facebook/dinov2-with-registers-small`` ... ``-giant`` on the HuggingFace Hub, a
``model.safetensors`` each) hold transformers' ``Dinov2Model`` / ``Dinov2WithRegistersModel``
names, in one of two layouts: the Hub files' (``attention.attention.query``,
``attention.output.dense``, ``mlp.weights_in``/``weights_out`` for SwiGLU) and transformers 5's
own ``state_dict()`` (``attention.q_proj`` ... ``o_proj``, ``mlp.gate_proj``/``up_proj``/
``down_proj``), which transformers renames the first into when it loads them
(``transformers.conversion_mapping``). :func:`convert_dinov2_state_dict` reads both; a
``dinov2.`` or ``dinov2_with_registers.`` prefix (the classification models' backbone) is
dropped.

=====================================================  ==========================================
transformers                                           segedu
=====================================================  ==========================================
``embeddings.cls_token``, ``mask_token``,              ``embeddings.cls_token``, ``mask_token``,
``register_tokens``                                    ``register_tokens``
``embeddings.position_embeddings``                     ``embeddings.pos_embed``
``embeddings.patch_embeddings.projection``             ``embeddings.patch_embed.proj``
``encoder.layer.i.norm1`` / ``norm2``                  ``blocks.i.norm1`` / ``norm2``
``encoder.layer.i.attention.{q,k,v}_proj``             ``blocks.i.attn.qkv`` (stacked q, k, v)
``encoder.layer.i.attention.o_proj``                   ``blocks.i.attn.proj``
``encoder.layer.i.layer_scale{1,2}.lambda1``           ``blocks.i.ls{1,2}.gamma``
``encoder.layer.i.mlp.fc1`` / ``fc2``                  ``blocks.i.mlp.fc1`` / ``fc2``
``encoder.layer.i.mlp.{gate,up}_proj``                 ``blocks.i.mlp.w12`` (stacked gate, up)
``encoder.layer.i.mlp.down_proj``                      ``blocks.i.mlp.w3``
``layernorm``                                          ``norm``
=====================================================  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_dinov2_state_dict"]

# transformers name (after the legacy renames below) -> segedu name; \1 is the layer index
_RENAMES = [
    (r"^embeddings\.cls_token$", "embeddings.cls_token"),
    (r"^embeddings\.mask_token$", "embeddings.mask_token"),
    (r"^embeddings\.register_tokens$", "embeddings.register_tokens"),
    (r"^embeddings\.position_embeddings$", "embeddings.pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.(weight|bias)$",
     r"embeddings.patch_embed.proj.\1"),
    (r"^encoder\.layer\.(\d+)\.norm([12])\.(weight|bias)$", r"blocks.\1.norm\2.\3"),
    (r"^encoder\.layer\.(\d+)\.attention\.o_proj\.(weight|bias)$", r"blocks.\1.attn.proj.\2"),
    (r"^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$", r"blocks.\1.ls\2.gamma"),
    (r"^encoder\.layer\.(\d+)\.mlp\.(fc[12])\.(weight|bias)$", r"blocks.\1.mlp.\2.\3"),
    (r"^encoder\.layer\.(\d+)\.mlp\.down_proj\.(weight|bias)$", r"blocks.\1.mlp.w3.\2"),
    (r"^layernorm\.(weight|bias)$", r"norm.\1"),
]
# the Hub files' names -> transformers 5's (as transformers.conversion_mapping renames them)
_LEGACY = [
    (".attention.attention.query.", ".attention.q_proj."),
    (".attention.attention.key.", ".attention.k_proj."),
    (".attention.attention.value.", ".attention.v_proj."),
    (".attention.output.dense.", ".attention.o_proj."),
    (".mlp.weights_out.", ".mlp.down_proj."),
]
# pieces stacked along the output dimension into one segedu layer, in this order
_STACKED = {
    r"^encoder\.layer\.(\d+)\.attention\.(q|k|v)_proj\.(weight|bias)$":
        (r"blocks.\1.attn.qkv.\3", ("q", "k", "v")),
    r"^encoder\.layer\.(\d+)\.mlp\.(gate|up)_proj\.(weight|bias)$":
        (r"blocks.\1.mlp.w12.\3", ("gate", "up")),
}
_PREFIXES = ("dinov2_with_registers.", "dinov2.")


def convert_dinov2_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a ``Dinov2Model`` or ``Dinov2WithRegistersModel`` state dict to :class:`~.model.Dinov2`.

    Every key must be mapped: an unknown key (a classifier's, another model's) or an incomplete
    q/k/v or gate/up group raises ``ValueError`` naming it.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got "
                        f"{type(state_dict).__name__}")
    out: dict[str, torch.Tensor] = {}
    groups: dict[str, tuple[tuple[str, ...], dict[str, torch.Tensor]]] = {}
    unknown = []
    for key, value in state_dict.items():
        name = key
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        for old, new in _LEGACY:
            name = name.replace(old, new)
        # the Hub's SwiGLU holds gate and up in one tensor already: it is w12 as it is
        legacy_w12 = re.match(r"^encoder\.layer\.(\d+)\.mlp\.weights_in\.(weight|bias)$", name)
        if legacy_w12:
            out[f"blocks.{legacy_w12[1]}.mlp.w12.{legacy_w12[2]}"] = value
            continue
        for pattern, (target, order) in _STACKED.items():
            match = re.match(pattern, name)
            if match:
                groups.setdefault(match.expand(target), (order, {}))[1][match[2]] = value
                break
        else:
            for pattern, target in _RENAMES:
                if re.match(pattern, name):
                    out[re.sub(pattern, target, name)] = value
                    break
            else:
                unknown.append(key)
    if unknown:
        raise ValueError(f"{len(unknown)} keys are not DINOv2 backbone weights: {unknown[:5]}")
    # stack q, k, v (and gate, up) along the output dimension, in the order segedu reads them
    for target, (order, pieces) in groups.items():
        missing = [p for p in order if p not in pieces]
        if missing:
            raise ValueError(f"{target}: the pieces {missing} of {order} are missing")
        out[target] = torch.cat([pieces[p] for p in order], dim=0)
    return out
