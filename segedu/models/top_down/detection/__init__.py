"""Detection and top-down instance segmentation: the parts that Faster R-CNN, Mask R-CNN and the
one-stage detectors share (feature pyramid, proposal matching and sampling, region proposals,
RoI heads) and the models built from them.

One concept per module (the feature pyramid is :mod:`segedu.nn.fpn`, shared with YOLACT and
Panoptic FPN): :mod:`.matcher` (IoU matching),
:mod:`.sampler` (balanced sampling), :mod:`.transform` (normalise, resize, batch),
:mod:`.rpn` (region proposals), :mod:`.multiscale_roi_align` (pooling from the right level),
:mod:`.box_head`, :mod:`.mask_head`, :mod:`.paste_masks`, :mod:`.roi_heads` (the second stage),
:mod:`.generalized_rcnn` (the skeleton and its input checks), :mod:`.faster_rcnn` and
:mod:`.mask_rcnn` (the models, registered as ``fasterrcnn_resnet50_fpn``,
``maskrcnn_resnet50_fpn`` and the slim ``maskrcnn_resnet_fpn``)."""

from .faster_rcnn import FasterRCNN, fasterrcnn_resnet50_fpn
from .mask_rcnn import MaskRCNN, maskrcnn_resnet50_fpn, maskrcnn_resnet_fpn
from .retinanet import RetinaNet, retinanet_anchor_sizes, retinanet_resnet50_fpn
from .ssd import SSD, SSD300_ASPECT_RATIOS, SSD300_SCALES, SSD300_STEPS, ssd300_vgg16

__all__ = ["FasterRCNN", "MaskRCNN", "RetinaNet", "SSD", "fasterrcnn_resnet50_fpn",
           "maskrcnn_resnet50_fpn", "maskrcnn_resnet_fpn", "retinanet_anchor_sizes",
           "retinanet_resnet50_fpn", "ssd300_vgg16", "SSD300_ASPECT_RATIOS", "SSD300_SCALES",
           "SSD300_STEPS"]
