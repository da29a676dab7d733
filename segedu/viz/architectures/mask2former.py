"""Mask2Former: the ResNet pyramid, the pixel decoder and the masked-attention decoder."""

from __future__ import annotations

from ...models.universal.mask2former.model import Mask2Former
from ..diagram_structure import Block, Edge, Structure
from .common import (
    chain,
    resnet_blocks,
)


def mask2former_structure(model: Mask2Former) -> Structure:
    """Mask2Former: the ResNet pyramid; the pixel decoder (a deformable-attention encoder on the
    three coarser maps, then the stride-4 mask features); the transformer decoder, where the
    learned queries enter and attend (masked) to one level per layer; class logits and masks."""
    head = "sem_seg_head."
    blocks = [Block("image", (0, 4), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 4), step=(0, -1),
                            names=("stem", "res2", "res3", "res4", "res5"))
    edges = chain([b.name for b in blocks])
    decoder = model.sem_seg_head.pixel_decoder
    blocks.append(Block("deformable encoder", (2, 1), module=f"{head}pixel_decoder.transformer",
                        pick=(0,), params=(f"{head}pixel_decoder.input_proj",
                                           f"{head}pixel_decoder.transformer")))
    edges += [Edge(r, "deformable encoder") for r in ("res3", "res4", "res5")]
    scales = []
    for i in range(decoder.num_levels):
        name = f"level {i + 1}"
        blocks.append(Block(name, (3, i), module=f"{head}pixel_decoder", pick=(1, i), params=()))
        edges.append(Edge("deformable encoder", name))
        scales.append(name)
    blocks.append(Block("mask features", (3, 3), module=f"{head}pixel_decoder", pick=(0,),
                        params=(f"{head}pixel_decoder.adapter_1", f"{head}pixel_decoder.layer_1",
                                f"{head}pixel_decoder.mask_features")))
    edges += [Edge("res2", "mask features", "add"), Edge(scales[-1], "mask features")]
    predictor = model.sem_seg_head.predictor
    layers = len(predictor.transformer_cross_attention_layers)
    blocks += [Block("queries", (4, -1), parameter=f"{head}predictor.query_feat.weight",
                     params=(f"{head}predictor.query_feat", f"{head}predictor.query_embed")),
               Block(f"{layers} decoder layers", (4, 1),
                     module=f"{head}predictor.transformer_ffn_layers.{layers - 1}",
                     params=(f"{head}predictor.transformer_self_attention_layers",
                             f"{head}predictor.transformer_cross_attention_layers",
                             f"{head}predictor.transformer_ffn_layers",
                             f"{head}predictor.level_embed", f"{head}predictor.input_proj",
                             f"{head}predictor.decoder_norm")),
               Block("class logits", (5, 0), module="", pick=("pred_logits",),
                     params=(f"{head}predictor.class_embed",)),
               Block("mask embed", (5, 1.5), module=f"{head}predictor.mask_embed"),
               Block("masks", (5, 3), module="", pick=("pred_masks",), params=())]
    edges += [Edge(s, f"{layers} decoder layers") for s in scales]
    edges += [Edge("queries", f"{layers} decoder layers", "enter"),
              Edge(f"{layers} decoder layers", "class logits"),
              Edge(f"{layers} decoder layers", "mask embed"),
              Edge("mask embed", "masks"), Edge("mask features", "masks")]
    groups = (("pixel decoder", ("deformable encoder", *scales, "mask features")),)
    return Structure(tuple(blocks), tuple(edges), (), groups)
