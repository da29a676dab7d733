"""DETR: the ResNet in a row, its transformer below, where the position code and the queries
enter.
"""

from __future__ import annotations

from ...models.universal.detr.model import DETR
from ..diagram_structure import Block, Edge, Structure
from .common import (
    chain,
    resnet_blocks,
)


def detr_structure(model: DETR) -> Structure:
    """DETR: the ResNet's stem and stages in a row, the 1x1 projection of the last stage, then the
    transformer below it: the encoder over the pixels and the decoder, where the learned object
    queries enter from above and the pixels' sine code (added to the queries and keys of every
    attention) from below; the class and box heads on the decoder's output."""
    encoder_layers, decoder_layers = len(model.transformer.encoder), len(model.transformer.decoder)
    decoder = f"{decoder_layers} decoder layers"
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    edges = chain([b.name for b in blocks])
    blocks += [Block("projection", (6, 0), module="input_proj"),
               Block("positions", (6, 3), module="position_embedding"),
               Block("queries", (7, 0), parameter="query_embed.weight", params=("query_embed",)),
               Block(decoder, (7, 1.5), module=f"transformer.decoder.{decoder_layers - 1}",
                     params=("transformer.decoder", "transformer.decoder_norm")),
               Block("classes", (8, 1), module="", pick=("pred_logits",), params=("class_embed",)),
               Block("boxes", (8, 2), module="", pick=("pred_boxes",), params=("bbox_embed",))]
    edges += [Edge("layer4", "projection"), Edge("queries", decoder, "enter"),
              Edge("positions", decoder, "enter", elbow="hv"),
              Edge(decoder, "classes"), Edge(decoder, "boxes")]
    if encoder_layers:  # DETR runs without an encoder too (the paper's ablation, Table 2)
        encoder = f"{encoder_layers} encoder layers"
        blocks.append(Block(encoder, (6, 1.5), module=f"transformer.encoder.{encoder_layers - 1}",
                            params=("transformer.encoder",)))
        edges += [Edge("projection", encoder), Edge(encoder, decoder),
                  Edge("positions", encoder, "enter")]
    else:
        edges.append(Edge("projection", decoder, elbow="vh"))
    groups = (("ResNet backbone", ("stem", "layer1", "layer2", "layer3", "layer4")),)
    return Structure(tuple(blocks), tuple(edges), (), groups)
