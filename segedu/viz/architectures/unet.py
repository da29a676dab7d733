"""U-Net: a U, the encoder stepping down a row per level, the decoder climbing back, skips
between them.
"""

from __future__ import annotations

from torch import nn

from ...models.semantic.unet import UNet
from ..diagram_structure import Block, Edge, Structure
from .common import chain


def unet_structure(model: UNet, prefix: str = "", *, head: bool = True) -> Structure:
    """A U: ``inc`` and each level of ``downs`` one row lower, ``ups`` climbing back, each skip
    concatenated horizontally into the decoder block of its level, and the 1x1 ``head``."""
    depth, ups = len(model.downs), len(model.ups)
    blocks = [Block("image", (0, 0), module=f"{prefix}inc", read="input", pick=(0,)),
              Block("inc", (1, 0), module=f"{prefix}inc")]
    encoder = ["inc"]
    for i in range(depth):
        name = f"down{i + 1}"
        blocks.append(Block(name, (2 + i, 1 + i), module=f"{prefix}downs.{i}"))
        encoder.append(name)
    edges = chain(["image", *encoder])
    last = encoder[-1]
    for k in range(ups):
        level = depth - 1 - k  # the encoder level whose map it receives
        name = f"up{level + 1}"
        blocks.append(Block(name, (2 + depth + k, max(level, 0)), module=f"{prefix}ups.{k}"))
        edges.append(Edge(last, name))
        if 0 <= level < len(encoder):
            edges.append(Edge(encoder[level], name, "concat"))
        last = name
    if head and not isinstance(model.head, nn.Identity):
        blocks.append(Block("head", (2 + depth + ups, 0), module=f"{prefix}head"))
        edges.append(Edge(last, "head", elbow="hv" if ups < depth else None))
    return Structure(tuple(blocks), tuple(edges))
