"""YOLACT (Bolya et al., ICCV 2019): real-time instance segmentation from prototypes
and coefficients.

One concept per module:

- :mod:`.protonet`: the prototype masks ``(N, k, H/4, W/4)`` from ``P3``;
- :mod:`.prediction_head`: per anchor, class logits, box deltas and ``k`` mask coefficients;
- :mod:`.assemble`: ``sigmoid(P C^T)`` and cropping to a box;
- :mod:`.matching`: anchors to ground-truth boxes by IoU, and OHEM;
- :mod:`.loss`: the loss's options and mask downsampling (the loss is ``Yolact.loss``);
- :mod:`.fast_nms`: the paper's Fast NMS, one matrix operation;
- :mod:`.model`: :class:`Yolact` and the registered builders ``yolact`` and ``yolact_resnet50``.
"""

from . import model
from .assemble import assemble_masks, box_crop_masks, crop_masks, mask_logits
from .fast_nms import fast_nms
from .matching import match_anchors, ohem_negatives
from .model import Yolact, yolact, yolact_resnet50
from .prediction_head import PredictionHead
from .protonet import ProtoNet

__all__ = ["model", "Yolact", "yolact", "yolact_resnet50", "ProtoNet", "PredictionHead",
           "mask_logits",
           "assemble_masks", "box_crop_masks", "crop_masks", "match_anchors", "fast_nms",
           "ohem_negatives"]
