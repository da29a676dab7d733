"""Set prediction and universal segmentation: semantic, instance and panoptic from one model
(Part V).

- :mod:`.base`: the family's contract, :class:`~.base.UniversalModel` (``targets``, ``loss``,
  ``postprocess(outputs, *, task)``);

- :mod:`.set_prediction`: DETR's Hungarian matcher and set loss (Carion et al. 2020), shared by
  the query models;
- :mod:`.detr`: ``detr`` (slim) and ``detr_resnet50`` (Carion et al. 2020), read out as boxes;
- :mod:`.panoptic_fpn`: ``panoptic_fpn`` (Kirillov et al. 2019);
- :mod:`.mask2former`: ``mask2former`` (slim) and ``mask2former_resnet50`` (Cheng et al. 2022);
- :mod:`.eomt`: ``eomt`` (slim) and ``eomt_large_640`` (Kerssies et al. 2025);
- :mod:`.oneformer`: ``oneformer`` (slim), ``oneformer_swin_tiny`` and ``oneformer_swin_large``
  (Jain et al. 2023).
"""

from . import base, detr, eomt, mask2former, oneformer, panoptic_fpn, set_prediction
from .base import UniversalModel

__all__ = ["base", "detr", "eomt", "mask2former", "oneformer", "panoptic_fpn", "set_prediction",
           "UniversalModel"]
