"""Panoptic FPN (Kirillov et al., CVPR 2019): one feature pyramid, an instance branch (Mask R-CNN)
and a semantic branch, merged into a panoptic map by heuristics. One concept per module:

- :mod:`.semantic_fpn_head`: the semantic branch (towers per level, sum, 1x1 classifier);
- :mod:`.combine`: things by score without duplicates, then stuff in the free pixels (the
  model's method ``combine_panoptic``);
- :mod:`.model`: :class:`PanopticFPN` and the registered slim ``panoptic_fpn``.
"""

from . import model
from .combine import PanopticMerge
from .model import PanopticFPN, panoptic_fpn
from .semantic_fpn_head import SemanticFPNHead

__all__ = ["model", "PanopticFPN", "panoptic_fpn", "PanopticMerge", "SemanticFPNHead"]
