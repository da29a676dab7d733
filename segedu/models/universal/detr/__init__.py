"""DETR (Carion et al., ECCV 2020): object detection as direct set prediction.

The training targets of DETR, the Hungarian matcher and the set loss, are shared with the later
set-prediction models (Mask2Former, EoMT) and live in :mod:`..set_prediction`; this package
re-exports them beside the network that they train:

- :mod:`.transformer`: the encoder over the pixels and the decoder over the object queries;
- :mod:`.model`: :class:`DETR`, a ResNet, the transformer, a class head and a box head, with the
  universal contract's methods; registered as ``detr_resnet50`` (the paper's) and ``detr`` (slim);
- :mod:`.boxes`: the training boxes of a panoptic map and the detections of a batch of outputs;
- :mod:`.convert`: ``transformers``' ``DetrForObjectDetection`` weights -> :class:`DETR`.
"""

from ..set_prediction import (  # noqa: E402 - the training targets, beside the network
    HungarianMatcher,
    SetCriterion,
    check_set_targets,
    hungarian_assignment,
    matched_query_index,
    num_targets_per_process,
)
from .boxes import box_detections, panoptic_box_targets
from .convert import convert_transformers_state_dict
from .model import DETR, detr, detr_resnet50
from .transformer import DetrDecoderLayer, DetrEncoderLayer, DetrTransformer

__all__ = ["HungarianMatcher", "SetCriterion", "hungarian_assignment", "check_set_targets",
           "matched_query_index", "num_targets_per_process", "DETR", "DetrTransformer",
           "DetrEncoderLayer", "DetrDecoderLayer", "convert_transformers_state_dict", "detr",
           "detr_resnet50", "box_detections", "panoptic_box_targets"]
