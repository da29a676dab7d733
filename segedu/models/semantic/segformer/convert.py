r"""``transformers``' ``SegformerForSemanticSegmentation`` state dict -> segedu's
:class:`~.model.Segformer`.

Two spellings of the same weights reach segedu: the files on the HuggingFace Hub (NVIDIA's
``model.safetensors``, and what ``save_pretrained`` writes) keep the names of 2021, and
``transformers`` 5 renames them when it loads them (its ``conversion_mapping.py``). The converter
first brings the Hub's names to ``transformers``' (:data:`HUB_RENAMES`), then maps those to
segedu's. One layout differs: ``transformers`` has separate key and value projections, segedu one
``kv`` layer (keys first, as the NVlabs code), so the two are concatenated.

Hub file (2021 names) -> ``transformers`` 5 -> segedu. Inside a block, relative to
``segformer.encoder.block.{i}.{j}.`` -> ``segformer.stages.{i}.blocks.{j}.`` ->
``encoder.stages.{i}.blocks.{j}.``::

    layer_norm_1, layer_norm_2   -> layernorm_before, layernorm_after -> norm1, norm2
    attention.self.query         -> attention.q_proj                  -> attn.q
    attention.self.key, .value   -> attention.k_proj, .v_proj         -> attn.kv (stacked)
    attention.self.sr            -> attention.sequence_reduction.sequence_reduction -> attn.sr
    attention.self.layer_norm    -> attention.sequence_reduction.layer_norm         -> attn.norm
    attention.output.dense       -> attention.o_proj                  -> attn.proj
    mlp.dense1, mlp.dense2       -> mlp.fc1, mlp.fc2                  -> mlp.fc1, mlp.fc2
    mlp.dwconv.dwconv            -> mlp.dwconv.dwconv                 -> mlp.dwconv

and outside the blocks::

    segformer.encoder.patch_embeddings.{i}.proj, .layer_norm
        -> segformer.stages.{i}.patch_embeddings.proj, .layer_norm
        -> encoder.stages.{i}.patch_embed.proj, .norm
    segformer.encoder.layer_norm.{i} -> segformer.stages.{i}.layer_norm -> encoder.stages.{i}.norm
    decode_head.linear_c.{i}.proj -> decode_head.linear_projections.{i}.proj
                                  -> decode_head.projections.{i}
    decode_head.linear_fuse, .batch_norm, .classifier (both spellings)
                                  -> decode_head.fuse, .norm, .classifier

A key that none of these rules names raises ``ValueError`` (an image-classification head, a
backbone-only checkpoint), so that nothing is dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_transformers_state_dict", "HUB_RENAMES"]

# the Hub's 2021 names -> transformers 5's (the renamings of transformers' conversion_mapping.py
# for SegformerModel and SegformerForSemanticSegmentation), applied in this order
HUB_RENAMES = [
    (r"encoder\.patch_embeddings\.(\d+)\.", r"stages.\1.patch_embeddings."),
    (r"encoder\.block\.(\d+)\.", r"stages.\1.blocks."),
    (r"encoder\.layer_norm\.(\d+)", r"stages.\1.layer_norm"),
    (r"attention\.self\.query", "attention.q_proj"),
    (r"attention\.self\.key", "attention.k_proj"),
    (r"attention\.self\.value", "attention.v_proj"),
    (r"attention\.self\.sr", "attention.sequence_reduction.sequence_reduction"),
    (r"attention\.self\.layer_norm", "attention.sequence_reduction.layer_norm"),
    (r"attention\.output\.dense", "attention.o_proj"),
    (r"mlp\.dense1", "mlp.fc1"),
    (r"mlp\.dense2", "mlp.fc2"),
    (r"layer_norm_1", "layernorm_before"),
    (r"layer_norm_2", "layernorm_after"),
    (r"decode_head\.linear_c\.", "decode_head.linear_projections."),
]

_BLOCK = r"^segformer\.stages\.(\d+)\.blocks\.(\d+)\."
# (pattern on transformers 5's module path, replacement): the first match wins
_RULES = [
    (r"^segformer\.stages\.(\d+)\.patch_embeddings\.proj$", r"encoder.stages.\1.patch_embed.proj"),
    (r"^segformer\.stages\.(\d+)\.patch_embeddings\.layer_norm$",
     r"encoder.stages.\1.patch_embed.norm"),
    (r"^segformer\.stages\.(\d+)\.layer_norm$", r"encoder.stages.\1.norm"),
    (_BLOCK + r"layernorm_before$", r"encoder.stages.\1.blocks.\2.norm1"),
    (_BLOCK + r"layernorm_after$", r"encoder.stages.\1.blocks.\2.norm2"),
    (_BLOCK + r"attention\.q_proj$", r"encoder.stages.\1.blocks.\2.attn.q"),
    (_BLOCK + r"attention\.o_proj$", r"encoder.stages.\1.blocks.\2.attn.proj"),
    (_BLOCK + r"attention\.sequence_reduction\.sequence_reduction$",
     r"encoder.stages.\1.blocks.\2.attn.sr"),
    (_BLOCK + r"attention\.sequence_reduction\.layer_norm$",
     r"encoder.stages.\1.blocks.\2.attn.norm"),
    (_BLOCK + r"mlp\.(fc1|fc2)$", r"encoder.stages.\1.blocks.\2.mlp.\3"),
    (_BLOCK + r"mlp\.dwconv\.dwconv$", r"encoder.stages.\1.blocks.\2.mlp.dwconv"),
    (r"^decode_head\.linear_projections\.(\d+)\.proj$", r"decode_head.projections.\1"),
    (r"^decode_head\.linear_fuse$", "decode_head.fuse"),
    (r"^decode_head\.batch_norm$", "decode_head.norm"),
    (r"^decode_head\.classifier$", "decode_head.classifier"),
]
# key and value projections, stacked into one kv layer
_KV = re.compile(_BLOCK + r"attention\.([kv])_proj\.(weight|bias)$")


def _transformers_name(key: str) -> str:
    """A Hub file's key in ``transformers`` 5's names (unchanged when it already is one)."""
    if key.startswith("segformer.stages.") or key.startswith("decode_head.linear_projections."):
        return key
    for pattern, replacement in HUB_RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def _rename(module: str) -> str | None:
    """segedu's name of a ``transformers`` 5 module path, or ``None``."""
    for pattern, replacement in _RULES:
        if re.match(pattern, module):
            return re.sub(pattern, replacement, module)
    return None


def convert_transformers_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of a ``SegformerForSemanticSegmentation``, in the Hub file's names or in
    ``transformers`` 5's -> the state dict of segedu's :class:`~.model.Segformer` (see the module
    docstring for the names). ``ValueError`` names a key that no rule maps."""
    converted: dict[str, torch.Tensor] = {}
    stacks: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for original, tensor in state.items():
        key = _transformers_name(original)
        # 1. keys and values: collected, stacked below
        kv = _KV.match(key)
        if kv:
            stage, block, which, kind = kv.groups()
            stacks.setdefault((f"encoder.stages.{stage}.blocks.{block}.attn.kv", kind),
                              {})[which] = tensor
            continue
        # 2. every other tensor: renamed
        module, _, name = key.rpartition(".")
        renamed = _rename(module)
        if renamed is None:
            raise ValueError(f"no rule maps the transformers key {original!r} to segedu's "
                             "Segformer")
        converted[f"{renamed}.{name}"] = tensor
    for (prefix, kind), parts in stacks.items():
        if set(parts) != {"k", "v"}:
            raise ValueError(f"{prefix}.{kind}: need key and value projections, got "
                             f"{sorted(parts)}")
        converted[f"{prefix}.{kind}"] = torch.cat([parts["k"], parts["v"]])
    return converted
