"""SegNet: a U whose skips carry the pooling indices."""

from __future__ import annotations

from ...models.semantic.segnet import SegNet
from ..diagram_structure import Block, Edge, Structure
from .common import (
    chain,
    stage_groups,
)


def segnet_structure(model: SegNet) -> Structure:
    """SegNet's U: the VGG16-BN encoder's five pooled stages stepping down, the decoders climbing
    back, each unpooling with the pooling indices of its mirror stage."""
    stages = stage_groups(model.encoder, "encoder.")
    n = len(stages)
    blocks = [Block("image", (0, 0), module="encoder.0", read="input", pick=(0,))]
    for i, (path, group) in enumerate(stages):
        pooling = model.get_submodule(path)  # returns (maps, indices) when it keeps the indices
        blocks.append(Block(f"enc{i + 1}", (i, i + 1), module=path, params=group,
                            pick=(0,) if pooling.return_indices else ()))
    edges = [Edge("image", "enc1")] + chain([f"enc{i + 1}" for i in range(n)])
    last = f"enc{n}"
    for j in range(len(model.decoders)):
        mirror = n - j  # decoder j unpools with the indices of stage n - j
        name = f"dec{mirror}"
        blocks.append(Block(name, (n + 1 + j, mirror), module=f"decoders.{j}"))
        edges += [Edge(last, name), Edge(f"enc{mirror}", name, "indices")]
        last = name
    blocks.append(Block("classifier", (n + len(model.decoders), 0), module="classifier"))
    edges.append(Edge(last, "classifier"))
    return Structure(tuple(blocks), tuple(edges))
