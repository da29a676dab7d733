"""The one-stage detectors: RetinaNet (an FPN pyramid and two subnets shared by its levels) and
SSD (VGG-16's maps and the extra layers, each with its own head convolutions)."""

from __future__ import annotations

from ...models.top_down.detection.retinanet.model import RetinaNet
from ...models.top_down.detection.ssd.model import SSD
from ..diagram_structure import Block, Bus, Edge, Structure
from .common import chain, fpn_pyramid

__all__ = ["retinanet_structure", "ssd_structure"]


def _dense_outputs(column: float, classes: str, boxes: str) -> tuple[list[Block], list[Edge]]:
    """The dense head's outputs over every anchor of every level (blocks ``classes`` and
    ``boxes``), the anchors, the detections."""
    blocks = [Block(classes, (column, 0), module="head.classification_head"),
              Block(boxes, (column, 1), module="head.regression_head"),
              Block("anchors", (column, -1), module="anchor_generator", pick=(0,),
                    batched=False, params=()),
              Block("detections", (column + 1, 0.5), module="", pick=(0, "boxes"),
                    batched=False, params=())]
    edges = [Edge(classes, "detections"), Edge(boxes, "detections"),
             Edge("anchors", "detections", elbow="hv")]
    return blocks, edges


def retinanet_structure(model: RetinaNet) -> Structure:
    """RetinaNet: the ResNet-FPN pyramid P3 .. P7; the classification subnet (``K`` sigmoid
    scores per anchor) and the box subnet (4 deltas per anchor), each shared by all levels;
    the anchors; the detections after top-k and NMS."""
    blocks, edges, levels = fpn_pyramid(model, "backbone.")
    head_blocks, head_edges = _dense_outputs(3, "class subnet", "box subnet")
    return Structure(tuple(blocks + head_blocks), tuple(edges + head_edges),
                     (Bus(tuple(levels), ("class subnet", "box subnet")),),
                     (("heads shared by P3 .. P7", ("class subnet", "box subnet")),))


def ssd_structure(model: SSD) -> Structure:
    """SSD: VGG-16 up to conv4_3, whose map is L2-normalised and scaled; fc6 / fc7 and the extra
    layers shrink the map step by step; every map has its own class and box convolutions (drawn
    as one block each: their outputs over all default boxes), the default boxes, the
    detections."""
    maps = ["conv4_3 (L2-normed)", "fc7", "conv8_2", "conv9_2", "conv10_2", "conv11_2"]
    blocks = [Block("image", (0, -2), module="backbone.features", read="input", pick=(0,)),
              Block("VGG-16 to conv4_3", (1, -2), module="backbone.features"),
              Block(maps[0], (1, -1), module="backbone", pick=("0",),
                    params=("backbone.scale_weight",))]
    for i, name in enumerate(maps[1:], start=1):
        blocks.append(Block(name, (1, -1 + i), module=f"backbone.extra.{i - 1}"))
    edges = chain(["image", "VGG-16 to conv4_3", *maps])
    head_blocks, head_edges = _dense_outputs(3, "class convs", "box convs")
    return Structure(tuple(blocks + head_blocks), tuple(edges + head_edges),
                     (Bus(tuple(maps), ("class convs", "box convs")),),
                     (("a convolution per map", ("class convs", "box convs")),))
