"""OneFormer: Mask2Former's layout, with the task token entering the queries."""

from __future__ import annotations

from ...models.universal.oneformer.model import OneFormer
from ..diagram_structure import Block, Edge, Structure
from .common import chain


def oneformer_structure(model: OneFormer) -> Structure:
    """OneFormer: the Swin pyramid (each stage's map LayerNorm-ed); Mask2Former's pixel decoder;
    the task prompt's token ids through the task MLP (the task token), from which the query
    transformer grows the object queries over the mask features; the task token joins them as
    the last query; the masked-attention decoder layers; class logits and masks. The text mapper
    and the contrastive loss act in training only and are not drawn."""
    swin = model.backbone.swin
    blocks = [Block("image", (0, 4), module="backbone.swin.patch_embed", read="input", pick=(0,)),
              Block("patch embed", (1, 4), module="backbone.swin.patch_embed")]
    stages = []
    for i in range(len(swin.stages)):
        stages.append(f"Swin stage {i + 1}")
        blocks.append(Block(stages[-1], (1, 3 - i), module=f"backbone.swin.stages.{i}",
                            params=(f"backbone.swin.stages.{i}", f"backbone.norms.{i}")))
    edges = chain(["image", "patch embed", *stages])
    # Mask2Former's pixel decoder
    decoder = model.pixel_decoder
    blocks.append(Block("deformable encoder", (2, 1), module="pixel_decoder.transformer",
                        pick=(0,), params=("pixel_decoder.input_proj",
                                           "pixel_decoder.transformer")))
    edges += [Edge(s, "deformable encoder") for s in stages[1:]]
    scales = []
    for i in range(decoder.num_levels):
        scales.append(f"level {i + 1}")
        blocks.append(Block(scales[-1], (3, i), module="pixel_decoder", pick=(1, i), params=()))
        edges.append(Edge("deformable encoder", scales[-1]))
    blocks.append(Block("mask features", (3, 3), module="pixel_decoder", pick=(0,),
                        params=("pixel_decoder.adapter_1", "pixel_decoder.layer_1",
                                "pixel_decoder.mask_features")))
    edges += [Edge(stages[0], "mask features", "add"), Edge(scales[-1], "mask features")]
    # the task token and the task-conditioned queries
    layers = len(model.predictor.transformer_ffn_layers)
    decoder_layers = f"{layers} decoder layers"
    blocks += [Block("task token", (3, -1), module="task_encoder"),
               Block("object queries", (4, -1), module="predictor.query_transformer",
                     params=("predictor.query_transformer", "predictor.query_input_proj",
                             "predictor.query_embed")),
               Block(decoder_layers, (4, 1),
                     module=f"predictor.transformer_ffn_layers.{layers - 1}",
                     params=("predictor.transformer_self_attention_layers",
                             "predictor.transformer_cross_attention_layers",
                             "predictor.transformer_ffn_layers", "predictor.level_embed",
                             "predictor.input_proj", "predictor.decoder_norm")),
               Block("class logits", (5, 0), module="", pick=("pred_logits",),
                     params=("predictor.class_embed",)),
               Block("mask embed", (5, 1.5), module="predictor.mask_embed"),
               Block("masks", (5, 3), module="", pick=("pred_masks",), params=())]
    edges += [Edge("task token", "object queries", "enter"),
              Edge("mask features", "object queries"),
              Edge("object queries", decoder_layers, "enter"),
              Edge("task token", decoder_layers, "enter")]
    edges += [Edge(s, decoder_layers) for s in scales]
    edges += [Edge(decoder_layers, "class logits"), Edge(decoder_layers, "mask embed"),
              Edge("mask embed", "masks"), Edge("mask features", "masks")]
    groups = (("Swin", ("patch embed", *stages)),
              ("pixel decoder", ("deformable encoder", *scales, "mask features")),
              ("task-conditioned queries", ("task token", "object queries")))
    return Structure(tuple(blocks), tuple(edges), (), groups)
