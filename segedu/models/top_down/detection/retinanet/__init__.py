"""RetinaNet (Lin et al., ICCV 2017): a one-stage detector trained with the focal loss.

One concept per module: :mod:`.head` (the classification and box subnets), :mod:`.loss` (focal
loss on all anchors, L1 box loss), :mod:`.postprocess` (per-level top-k, decoding, batched NMS),
:mod:`.model` (the model, registered as ``retinanet_resnet50_fpn``). The anchors are
:class:`segedu.ops.AnchorGenerator`'s, the box coding :func:`segedu.ops.encode_boxes`'.
"""

from .head import RetinaNetClassificationHead, RetinaNetHead, RetinaNetRegressionHead
from .loss import retinanet_loss
from .model import RetinaNet, retinanet_anchor_sizes, retinanet_resnet50_fpn
from .postprocess import retinanet_detections

__all__ = ["RetinaNet", "RetinaNetHead", "RetinaNetClassificationHead", "RetinaNetRegressionHead",
           "retinanet_anchor_sizes", "retinanet_detections", "retinanet_loss",
           "retinanet_resnet50_fpn"]
