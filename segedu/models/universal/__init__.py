"""Set prediction and universal segmentation: semantic, instance and panoptic from one model
(Part V).

- :mod:`.detr`: DETR's Hungarian matcher and set loss (Carion et al. 2020);
- :mod:`.panoptic_fpn`: ``panoptic_fpn`` (Kirillov et al. 2019);
- :mod:`.mask2former`: ``mask2former`` (slim) and ``mask2former_resnet50`` (Cheng et al. 2022).
"""

from . import detr, mask2former, panoptic_fpn

__all__ = ["detr", "mask2former", "panoptic_fpn"]
