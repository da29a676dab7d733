"""Training a set of predictions (DETR, Carion et al., ECCV 2020), shared by the family's query
models (DETR, Mask2Former, OneFormer, EoMT):

- :mod:`.hungarian_matcher`: a one-to-one assignment of the ``Q`` predictions to the ``M``
  ground-truth objects that minimises a class + L1 + GIoU cost (:class:`HungarianMatcher`), and
  the assignment itself (:func:`hungarian_assignment`) that mask matchers reuse with their own cost;
- :mod:`.set_criterion`: the loss of the matched pairs and of the unmatched "no object" queries,
  on every decoder layer (:class:`SetCriterion`), and its parts that mask criteria reuse;
- :mod:`.masked_attention`: Mask2Former's masked attention, each query attending only inside the
  mask it predicted (:func:`attention_mask_from_masks`, :func:`reset_fully_masked_rows`), shared
  by the mask-predicting query models (Mask2Former, OneFormer, EoMT).
"""

from .hungarian_matcher import (
    HungarianMatcher,
    check_box_outputs,
    check_set_targets,
    hungarian_assignment,
)
from .masked_attention import attention_mask_from_masks, reset_fully_masked_rows
from .set_criterion import (
    SetCriterion,
    cached_criterion,
    matched_query_index,
    no_object_class_weights,
    num_targets_per_process,
    set_class_loss,
    weighted_loss_sum,
)

__all__ = ["HungarianMatcher", "hungarian_assignment", "check_set_targets", "check_box_outputs",
           "SetCriterion", "cached_criterion", "matched_query_index", "no_object_class_weights",
           "num_targets_per_process", "set_class_loss", "weighted_loss_sum",
           "attention_mask_from_masks", "reset_fully_masked_rows"]
