"""Faster and Mask R-CNN: the FPN pyramid, the RPN and the RoI heads."""

from __future__ import annotations

from ...models.top_down.detection.generalized_rcnn import GeneralizedRCNN
from ..diagram_structure import Block, Bus, Edge, Structure
from .common import fpn_pyramid


def rcnn_structure(model: GeneralizedRCNN) -> Structure:
    """Faster R-CNN and Mask R-CNN (and Panoptic FPN): the pyramid, then the stages: the RPN
    (shared over the levels), its proposals, RoIAlign and the box head; RoIAlign and the mask head
    on the detected boxes; Panoptic FPN's semantic head on the levels."""
    blocks, edges, levels = fpn_pyramid(model, "backbone.")
    roi = model.roi_heads
    blocks += [Block("RPN head", (3, -1), module="rpn.head", pick=(0, 0)),
               Block("proposals", (4, -1), module="rpn", pick=(0, 0), batched=False, params=()),
               Block("RoIAlign", (3, 1.5), module="roi_heads.box_roi_pool", batched=False),
               Block("box head", (4, 1.5), module="roi_heads.box_head", batched=False),
               Block("classes", (5, 1), module="roi_heads.box_predictor", pick=(0,),
                     batched=False, params=("roi_heads.box_predictor.cls_score",)),
               Block("box deltas", (5, 2), module="roi_heads.box_predictor", pick=(1,),
                     batched=False, params=("roi_heads.box_predictor.bbox_pred",))]
    edges += [Edge("RPN head", "proposals"), Edge("proposals", "RoIAlign"),
              Edge("RoIAlign", "box head"), Edge("box head", "classes"),
              Edge("box head", "box deltas")]
    targets = ["RPN head", "RoIAlign"]
    groups = [("stage 1: RPN (objectness shown for P2)", ("RPN head", "proposals")),
              ("stage 2: boxes, per RoI", ("RoIAlign", "box head", "classes", "box deltas"))]
    if getattr(roi, "mask_head", None) is not None:
        blocks += [Block("mask RoIAlign", (3, 3.5), module="roi_heads.mask_roi_pool",
                         batched=False),
                   Block("mask head", (4, 3.5), module="roi_heads.mask_head", batched=False),
                   Block("mask logits", (5, 3.5), module="roi_heads.mask_predictor",
                         batched=False)]
        edges += [Edge("box deltas", "mask RoIAlign"), Edge("mask RoIAlign", "mask head"),
                  Edge("mask head", "mask logits")]
        targets.append("mask RoIAlign")
        groups.append(("masks, per detected box",
                       ("mask RoIAlign", "mask head", "mask logits")))
    if getattr(model, "semantic_head", None) is not None:
        blocks.append(Block("semantic head", (3, 5), module="semantic_head"))
        targets.append("semantic head")
    sources = tuple(levels)
    return Structure(tuple(blocks), tuple(edges), (Bus(sources, tuple(targets)),),
                     tuple(groups))
