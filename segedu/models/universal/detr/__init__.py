"""DETR (Carion et al., ECCV 2020): object detection as direct set prediction.

The training targets of DETR, shared with later set-prediction models (MaskFormer, Mask2Former):

- :mod:`.hungarian_matcher`: a one-to-one assignment of the ``Q`` predictions to the ``M``
  ground-truth objects that minimises a class + L1 + GIoU cost (:class:`HungarianMatcher`);
- :mod:`.set_criterion`: the loss of the matched pairs and of the unmatched "no object" queries,
  on every decoder layer (:class:`SetCriterion`).

and the network that they train:

- :mod:`.transformer`: the encoder over the pixels and the decoder over the object queries;
- :mod:`.model`: :class:`DETR`, a ResNet, the transformer, a class head and a box head;
- :mod:`.convert`: ``transformers``' ``DetrForObjectDetection`` weights -> :class:`DETR`.
"""

from .convert import convert_transformers_state_dict
from .hungarian_matcher import HungarianMatcher, check_set_targets, hungarian_assignment
from .model import DETR
from .set_criterion import SetCriterion, matched_query_index, num_targets_per_process
from .transformer import DetrDecoderLayer, DetrEncoderLayer, DetrTransformer

__all__ = ["HungarianMatcher", "SetCriterion", "hungarian_assignment", "check_set_targets",
           "matched_query_index", "num_targets_per_process", "DETR", "DetrTransformer",
           "DetrEncoderLayer", "DetrDecoderLayer", "convert_transformers_state_dict"]
