"""DeepLabv3+: the ResNet, ASPP's branches and the decoder's skip."""

from __future__ import annotations

from ...models.semantic.deeplabv3plus import DeepLabV3Plus
from ..diagram_structure import Block, Edge, Structure
from .common import (
    branch_edges,
    branch_rate,
    branch_row,
    chain,
    resnet_blocks,
)


def deeplabv3plus_structure(model: DeepLabV3Plus) -> Structure:
    """DeepLabv3+: the backbone, ASPP's branches, and the decoder that fuses the up-sampled
    context with reduced layer-1 features (concatenated)."""
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    edges = chain([b.name for b in blocks])
    aspp = model.decoder.aspp[0]
    n = len(aspp.convs)
    for i, branch in enumerate(aspp.convs):
        rate = f"rate {branch_rate(branch)}"
        name = "1×1 conv" if i == 0 else "image pool" if i == n - 1 else rate
        blocks.append(Block(name, (6, branch_row(i, n)), module=f"decoder.aspp.0.convs.{i}"))
        edges += branch_edges("layer4", name, "ASPP", branch_row(i, n), "concat")
    last = len(model.decoder.aspp) - 1
    after = tuple(f"decoder.aspp.{i}" for i in range(1, last + 1))  # the branches counted above
    blocks += [Block("ASPP", (7, 0), module=f"decoder.aspp.{last}",
                     params=("decoder.aspp.0.project", *after)),
               Block("reduce", (2, 3), module="decoder.reduce_low_level"),
               Block("fuse", (8, 3), module="decoder.fuse"),
               Block("classifier", (9, 3), module="classifier"),
               Block("scores", (10, 3), module="", pick=("out",))]
    edges += [Edge("layer1", "reduce"), Edge("reduce", "fuse", "concat"),
              Edge("ASPP", "fuse", elbow="hv"),
              Edge("fuse", "classifier"), Edge("classifier", "scores")]
    return Structure(tuple(blocks), tuple(edges))
