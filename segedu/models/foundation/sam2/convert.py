r"""``transformers``' ``Sam2VideoModel`` (or image-only ``Sam2Model``) state dict -> segedu's
:class:`~.sam2.Sam2`, whose names are facebookresearch/sam2's. The renamings
(``transformers`` -> segedu; ``...`` keeps the middle of the key):

- image encoder: ``vision_encoder.backbone.patch_embed.projection`` ->
  ``image_encoder.trunk.patch_embed.proj``; ``...blocks.{i}.layer_norm{1,2}`` ->
  ``...blocks.{i}.norm{1,2}``; ``...blocks.{i}.mlp.proj_in / proj_out`` -> ``...mlp.fc1 / fc2``;
  ``vision_encoder.neck.convs.{i}`` -> ``image_encoder.neck.convs.{i}``;
- prompt encoder (``sam_prompt_encoder``): ``shared_embedding.positional_embedding`` ->
  ``pe_layer.positional_encoding_gaussian_matrix``; ``point_embed.weight`` ``(4, C)`` -> four
  ``point_embeddings.{k}.weight`` ``(1, C)``; ``mask_embed.conv1 / layer_norm1 / conv2 /
  layer_norm2 / conv3`` -> ``mask_downscaling.0 / 1 / 3 / 4 / 6``;
- mask decoder (``sam_mask_decoder``): ``o_proj`` -> ``out_proj``, ``layer_norm{k}`` ->
  ``norm{k}``, ``mlp.proj_in / proj_out`` -> ``mlp.lin1 / lin2``, ``layer_norm_final_attn`` ->
  ``norm_final_attn`` in the transformer; ``upscale_conv1 / upscale_layer_norm / upscale_conv2``
  -> ``output_upscaling.0 / 1 / 3``;
- every 3-layer head (hypernetworks, IoU, object score, object pointer): ``proj_in``,
  ``layers.{k}``, ``proj_out`` -> :class:`segedu.nn.mlp.MLP`'s ``layers.0``, ``layers.{k+1}``,
  ``layers.{last}``;
- memory attention: ``o_proj`` -> ``out_proj``, ``layer_norm{k}`` -> ``norm{k}``, the final
  ``layer_norm`` -> ``norm``;
- memory encoder: ``mask_downsampler.layers.{j}.conv / layer_norm`` ->
  ``mask_downsampler.encoder.{3j} / {3j+1}``, ``mask_downsampler.final_conv`` -> ``encoder.{3L}``;
  ``feature_projection / projection`` -> ``pix_feat_proj / out_proj``;
  ``memory_fuser.layers.{j}.depthwise_conv / layer_norm / pointwise_conv{1,2} / scale`` ->
  ``fuser.layers.{j}.dwconv / norm / pwconv{1,2} / gamma``;
- SAM 2's own tensors: ``no_memory_embedding`` -> ``no_mem_embed``,
  ``no_memory_positional_encoding`` -> ``no_mem_pos_enc``,
  ``memory_temporal_positional_encoding`` -> ``maskmem_tpos_enc``, ``no_object_pointer`` ->
  ``no_obj_ptr``, ``occlusion_spatial_embedding_parameter`` -> ``no_obj_embed_spatial``,
  ``object_pointer_proj`` -> ``obj_ptr_proj``, ``temporal_positional_encoding_projection_layer``
  -> ``obj_ptr_tpos_proj``.

``transformers`` keeps two copies of the prompt encoder's random Fourier matrix (one for the
prompts, ``shared_image_embedding`` for the image grid); the original, and segedu, have one, so
the two must be equal and the second is dropped (``transformers``' conversion script of SAM
copies the original's one matrix into both; a checkpoint where they differ is refused, not
guessed at). A key that no rule names raises ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_transformers_state_dict"]

_FUSER = {"depthwise_conv": "dwconv", "layer_norm": "norm", "pointwise_conv1": "pwconv1",
          "pointwise_conv2": "pwconv2"}
_RULES: list[tuple[str, object]] = [
    # image encoder
    (r"^vision_encoder\.backbone\.patch_embed\.projection\.",
     "image_encoder.trunk.patch_embed.proj."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.layer_norm(\d)\.",
     lambda m: f"image_encoder.trunk.blocks.{m[1]}.norm{m[2]}."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.mlp\.proj_in\.",
     lambda m: f"image_encoder.trunk.blocks.{m[1]}.mlp.fc1."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.mlp\.proj_out\.",
     lambda m: f"image_encoder.trunk.blocks.{m[1]}.mlp.fc2."),
    (r"^vision_encoder\.backbone\.blocks\.(\d+)\.(attn\.qkv|attn\.proj|proj)\.",
     lambda m: f"image_encoder.trunk.blocks.{m[1]}.{m[2]}."),
    (r"^vision_encoder\.backbone\.(pos_embed|pos_embed_window)$",
     lambda m: f"image_encoder.trunk.{m[1]}"),
    (r"^vision_encoder\.neck\.convs\.", "image_encoder.neck.convs."),
    # prompt encoder
    (r"^prompt_encoder\.shared_embedding\.positional_embedding$",
     "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
    (r"^prompt_encoder\.mask_embed\.(conv1|layer_norm1|conv2|layer_norm2|conv3)\.",
     lambda m: "sam_prompt_encoder.mask_downscaling."
     f"{ {'conv1': 0, 'layer_norm1': 1, 'conv2': 3, 'layer_norm2': 4, 'conv3': 6}[m[1]] }."),
    (r"^prompt_encoder\.(no_mask_embed|not_a_point_embed)\.",
     lambda m: f"sam_prompt_encoder.{m[1]}."),
    # mask decoder
    (r"^mask_decoder\.upscale_conv1\.", "sam_mask_decoder.output_upscaling.0."),
    (r"^mask_decoder\.upscale_layer_norm\.", "sam_mask_decoder.output_upscaling.1."),
    (r"^mask_decoder\.upscale_conv2\.", "sam_mask_decoder.output_upscaling.3."),
    (r"^mask_decoder\.transformer\.layer_norm_final_attn\.",
     "sam_mask_decoder.transformer.norm_final_attn."),
    (r"^mask_decoder\.transformer\.(.*)\.layer_norm(\d)\.",
     lambda m: f"sam_mask_decoder.transformer.{m[1]}.norm{m[2]}."),
    (r"^mask_decoder\.transformer\.(.*)\.mlp\.proj_in\.",
     lambda m: f"sam_mask_decoder.transformer.{m[1]}.mlp.lin1."),
    (r"^mask_decoder\.transformer\.(.*)\.mlp\.proj_out\.",
     lambda m: f"sam_mask_decoder.transformer.{m[1]}.mlp.lin2."),
    (r"^mask_decoder\.transformer\.(.*)\.o_proj\.",
     lambda m: f"sam_mask_decoder.transformer.{m[1]}.out_proj."),
    (r"^mask_decoder\.transformer\.(.*)\.([qkv]_proj)\.",
     lambda m: f"sam_mask_decoder.transformer.{m[1]}.{m[2]}."),
    (r"^mask_decoder\.(iou_token|mask_tokens|obj_score_token|conv_s0|conv_s1)\.",
     lambda m: f"sam_mask_decoder.{m[1]}."),
    (r"^mask_decoder\.(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.",
     lambda m: f"sam_mask_decoder.{m[1]}."),
    # memory attention
    (r"^memory_attention\.layer_norm\.", "memory_attention.norm."),
    (r"^memory_attention\.layers\.(\d+)\.layer_norm(\d)\.",
     lambda m: f"memory_attention.layers.{m[1]}.norm{m[2]}."),
    (r"^memory_attention\.layers\.(\d+)\.(self_attn|cross_attn_image)\.o_proj\.",
     lambda m: f"memory_attention.layers.{m[1]}.{m[2]}.out_proj."),
    (r"^memory_attention\.layers\.(\d+)\.(self_attn|cross_attn_image)\.([qkv]_proj)\.",
     lambda m: f"memory_attention.layers.{m[1]}.{m[2]}.{m[3]}."),
    (r"^memory_attention\.layers\.(\d+)\.(linear1|linear2)\.",
     lambda m: f"memory_attention.layers.{m[1]}.{m[2]}."),
    # memory encoder
    (r"^memory_encoder\.mask_downsampler\.layers\.(\d+)\.conv\.",
     lambda m: f"memory_encoder.mask_downsampler.encoder.{3 * int(m[1])}."),
    (r"^memory_encoder\.mask_downsampler\.layers\.(\d+)\.layer_norm\.",
     lambda m: f"memory_encoder.mask_downsampler.encoder.{3 * int(m[1]) + 1}."),
    (r"^memory_encoder\.feature_projection\.", "memory_encoder.pix_feat_proj."),
    (r"^memory_encoder\.projection\.", "memory_encoder.out_proj."),
    (r"^memory_encoder\.memory_fuser\.layers\.(\d+)\.(depthwise_conv|layer_norm|pointwise_conv1"
     r"|pointwise_conv2)\.",
     lambda m: f"memory_encoder.fuser.layers.{m[1]}.{_FUSER[m[2]]}."),
    (r"^memory_encoder\.memory_fuser\.layers\.(\d+)\.scale$",
     lambda m: f"memory_encoder.fuser.layers.{m[1]}.gamma"),
    # SAM 2's own parameters
    (r"^no_memory_embedding$", "no_mem_embed"),
    (r"^no_memory_positional_encoding$", "no_mem_pos_enc"),
    (r"^memory_temporal_positional_encoding$", "maskmem_tpos_enc"),
    (r"^no_object_pointer$", "no_obj_ptr"),
    (r"^occlusion_spatial_embedding_parameter$", "no_obj_embed_spatial"),
    (r"^mask_downsample\.", "mask_downsample."),
    (r"^object_pointer_proj\.", "obj_ptr_proj."),
    (r"^temporal_positional_encoding_projection_layer\.", "obj_ptr_tpos_proj."),
]
# transformers' 3-part MLPs (proj_in, layers.k, proj_out) -> segedu.nn.mlp.MLP's layers.k
_MLP = re.compile(r"^(.*(?:output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head"
                  r"|obj_ptr_proj))\.(proj_in|layers\.(\d+)|proj_out)\.(weight|bias)$")


def _rename(key: str) -> str:
    for pattern, replacement in _RULES:
        m = re.match(pattern, key)
        if m:
            new = replacement(m) if callable(replacement) else replacement
            return new + key[m.end():]
    raise ValueError(f"no rule for transformers' SAM 2 key {key!r}")


def convert_transformers_state_dict(state_dict: Mapping[str, torch.Tensor]
                                    ) -> dict[str, torch.Tensor]:
    """Map a ``Sam2VideoModel`` (or ``Sam2Model``) state dict to :class:`~.sam2.Sam2`'s names
    (module docstring). Raises ``ValueError`` on an unknown key or on two different prompt
    position matrices."""
    state = dict(state_dict)
    image_pe = state.pop("shared_image_embedding.positional_embedding", None)
    prompt_pe = state.get("prompt_encoder.shared_embedding.positional_embedding")
    if image_pe is not None and (prompt_pe is None or not torch.equal(image_pe, prompt_pe)):
        raise ValueError("shared_image_embedding and prompt_encoder.shared_embedding differ: SAM 2 "
                         "has one random Fourier matrix for both (tie them before converting)")
    out: dict[str, torch.Tensor] = {}
    renamed: dict[str, str] = {}
    for key, value in state.items():
        if key == "prompt_encoder.point_embed.weight":
            # one (4, C) table -> SAM's four (1, C) embeddings
            for k in range(value.shape[0]):
                out[f"sam_prompt_encoder.point_embeddings.{k}.weight"] = value[k : k + 1].clone()
        elif key.startswith("memory_encoder.mask_downsampler.final_conv."):
            # the final 1 x 1 conv follows L (conv, norm, GELU) triples
            num = len({k.split(".")[3] for k in state
                       if k.startswith("memory_encoder.mask_downsampler.layers.")})
            tensor = key.rsplit(".", 1)[1]
            out[f"memory_encoder.mask_downsampler.encoder.{3 * num}.{tensor}"] = value
        else:
            renamed[key] = _rename(key)
    # the hidden layers of each 3-part MLP, to number proj_out after them
    hidden: dict[str, set[int]] = {}
    for new in renamed.values():
        m = _MLP.match(new)
        if m:
            hidden.setdefault(m[1], set())
            if m[3] is not None:
                hidden[m[1]].add(int(m[3]))
    for key, new in renamed.items():
        m = _MLP.match(new)
        if m:
            depth = len(hidden[m[1]])
            index = 0 if m[2] == "proj_in" else depth + 1 if m[2] == "proj_out" else int(m[3]) + 1
            new = f"{m[1]}.layers.{index}.{m[4]}"
        out[new] = state[key]
    return out
