"""DETR (Carion et al., ECCV 2020): object detection as direct set prediction.

The training targets of DETR, shared with later set-prediction models (MaskFormer, Mask2Former):

- :mod:`.hungarian_matcher`: a one-to-one assignment of the ``Q`` predictions to the ``M``
  ground-truth objects that minimises a class + L1 + GIoU cost (:class:`HungarianMatcher`);
- :mod:`.set_criterion`: the loss of the matched pairs and of the unmatched "no object" queries,
  on every decoder layer (:class:`SetCriterion`).
"""

from .hungarian_matcher import HungarianMatcher, check_set_targets, hungarian_assignment
from .set_criterion import SetCriterion, matched_query_index, num_targets_per_process

__all__ = ["HungarianMatcher", "SetCriterion", "hungarian_assignment", "check_set_targets",
           "matched_query_index", "num_targets_per_process"]
