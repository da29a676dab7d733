"""YOLACT: the FPN pyramid, the prototype branch and the prediction head."""

from __future__ import annotations

from ...models.top_down.yolact.model import Yolact
from ..diagram_structure import Block, Bus, Edge, Structure
from .common import fpn_pyramid


def yolact_structure(model: Yolact) -> Structure:
    """YOLACT: the pyramid; the prediction head shared by the levels (classes, boxes, mask
    coefficients per anchor); ProtoNet's prototypes from the finest level; the masks, a linear
    combination of prototypes by coefficients."""
    blocks, edges, levels = fpn_pyramid(model, "backbone.")
    blocks += [Block("head", (3, 0), module="head.upfeature"),
               Block("classes", (4, -1), module="head", pick=(0,), params=("head.class_conv",)),
               Block("boxes", (4, 0), module="head", pick=(1,), params=("head.box_conv",)),
               Block("coefficients", (4, 1), module="head", pick=(2,),
                     params=("head.coef_conv",)),
               Block("ProtoNet", (3, 4), module="protonet"),
               Block("masks", (5, 2), module="", pick=(0, "masks"), batched=False, params=())]
    edges += [Edge(levels[0], "ProtoNet", elbow="vh"), Edge("head", "classes"),
              Edge("head", "boxes"), Edge("head", "coefficients"), Edge("coefficients", "masks"),
              Edge("ProtoNet", "masks")]
    return Structure(tuple(blocks), tuple(edges), (Bus(tuple(levels), ("head",)),))
