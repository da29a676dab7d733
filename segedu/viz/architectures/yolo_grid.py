"""YOLO's grid detector: a ResNet, the head and the S x S grid."""

from __future__ import annotations

from ...models.top_down.yolo_grid import YoloGrid
from ..diagram_structure import Block, Structure
from .common import (
    chain,
    resnet_blocks,
)


def yolo_grid_structure(model: YoloGrid) -> Structure:
    """YOLO's grid: a ResNet, the head's convolution, and the ``S x S`` grid of cell
    predictions."""
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    blocks += [Block("head conv", (6, 0), module="head.conv"),
               Block("head out", (7, 0), module="head.out"),
               Block("grid", (8, 0), module="head", params=())]
    return Structure(tuple(blocks), tuple(chain([b.name for b in blocks])))
