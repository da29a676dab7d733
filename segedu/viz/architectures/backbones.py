"""Swin and ConvNeXt: the four stages of a classifier in a row, each halving the resolution, and
the U-Net decoder on them climbing back with a skip from each stage.

Both give their stages' maps channels first, ``(C, h, w)``, as a CNN's.
"""

from __future__ import annotations

from ...models.semantic.unet_resnet import UNetOnBackbone
from ...nn.backbone import Backbone
from ...nn.swin import SwinTransformer
from ..diagram_structure import Block, Edge, Structure
from .common import chain


def backbone_blocks(model: Backbone, prefix: str, *, at: tuple[float, float],
                    step: tuple[float, float]) -> list[Block]:
    """Swin's patch embedding (none for ConvNeXt, whose stem opens stage 1) and the four stages
    (each with its patch merging or downsampling layer) as blocks: the first at ``at``, stage 1
    beside the patch embedding, each next stage ``step`` further on the grid."""
    blocks = []
    if isinstance(model, SwinTransformer):
        blocks.append(Block("patch embed", at, module=f"{prefix}patch_embed"))
        at = (at[0] + 1, at[1])
    for i in range(len(model.stages)):
        blocks.append(Block(f"stage {i + 1}", (at[0] + i * step[0], at[1] + i * step[1]),
                            module=f"{prefix}stages.{i}"))
    return blocks


def classifier_structure(model: Backbone) -> Structure:
    """A Swin or ConvNeXt classifier: image, (patch embedding,) four stages in a row, then the
    final norm and the linear classifier on the pooled map."""
    first = "patch embed" if isinstance(model, SwinTransformer) else "stage 1"
    blocks = [Block("image", (0, 0), module="patch_embed" if first == "patch embed"
                    else "stages.0", read="input", pick=(0,))]
    blocks += backbone_blocks(model, "", at=(1, 0), step=(1, 0))
    name = "Swin Transformer" if isinstance(model, SwinTransformer) else "ConvNeXt"
    groups = ((name, tuple(b.name for b in blocks[1:])),)
    if model.include_top:
        blocks.append(Block("classifier", (len(blocks), 0), module="head",
                            params=("norm", "head")))
    return Structure(tuple(blocks), tuple(chain([b.name for b in blocks])), (), groups)


def unet_on_backbone_structure(model: UNetOnBackbone) -> Structure:
    """A U: the encoder's stages stepping down a row each, the decoder blocks climbing back, each
    concatenating the stage map of its level; the last block, without a skip, reaches the image's
    size; the 3x3 classifier."""
    encoder = backbone_blocks(model.encoder, "encoder.", at=(1, 0), step=(1, 1))
    first = encoder[0].module
    blocks = [Block("image", (0, 0), module=first, read="input", pick=(0,)), *encoder]
    stages = [b.name for b in encoder if b.name.startswith("stage")]
    edges = chain(["image", *(b.name for b in encoder)])
    rows = {b.name: b.at[1] for b in encoder}
    n, column = len(model.decoder.blocks), len(encoder) + 1
    last = stages[-1]
    for k in range(n):
        name = f"up{n - k}"
        skip = stages[-2 - k] if k < len(stages) - 1 else None  # the stage one level up
        blocks.append(Block(name, (column + k, rows[skip] if skip else 0),
                            module=f"decoder.blocks.{k}"))
        edges.append(Edge(last, name))
        if skip is not None:  # beside the stage whose map it concatenates
            edges.append(Edge(skip, name, "concat"))
        last = name
    blocks.append(Block("head", (column + n, 0), module="segmentation_head"))
    edges.append(Edge(last, "head"))
    groups = (("encoder", tuple(b.name for b in encoder)),
              ("U-Net decoder", tuple(f"up{n - k}" for k in range(n))))
    return Structure(tuple(blocks), tuple(edges), (), groups)
