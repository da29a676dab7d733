"""Top-down instance segmentation: detect boxes first, then segment inside them (Part IV).

- :mod:`.base`: the family's contract, :class:`~.base.TopDownModel` (``targets(targets)``,
  ``loss(outputs, targets)``, ``postprocess(outputs, **options)``), which every model here is;
- :mod:`.yolo_grid`: a YOLO-style grid detector (Redmon et al. 2016, 2017);
- :mod:`.detection`: ``fasterrcnn_resnet50_fpn`` and ``maskrcnn_resnet50_fpn`` (torchvision's),
  ``maskrcnn_resnet_fpn`` (slim), and their parts (FPN, RPN, RoI heads; Ren et al. 2015,
  He et al. 2017); the one-stage detectors ``retinanet_resnet50_fpn`` (Lin et al. 2017: the
  focal loss) and ``ssd300_vgg16`` (Liu et al. 2016: default boxes, hard-negative mining),
  torchvision's given its weights;
- :mod:`.yolact`: ``yolact`` (slim) and ``yolact_resnet50`` (Bolya et al. 2019);
- :mod:`.solov2`: ``solov2`` (slim) and ``solov2_resnet50_fpn`` (Wang et al. 2020): masks by
  location, from kernels made per instance, and Matrix NMS.
"""

from . import base, detection, solov2, yolact, yolo_grid
from .base import TopDownModel

__all__ = ["base", "detection", "solov2", "yolact", "yolo_grid", "TopDownModel"]
