"""Box operations for detection and instance segmentation: box formats and IoU, NMS,
RoI pooling and RoIAlign, anchors and box coding; Matrix NMS, the score decay of overlapping
masks (:mod:`.matrix_nms`).

Where torchvision has a fast kernel (``nms``, ``batched_nms``, ``roi_pool``, ``roi_align``),
the function of that name calls it by default and runs segedu's readable version with
``implementation="reference"``; the readable versions are also exported as ``*_reference``.
Every function returns what its torchvision counterpart returns (see ``tests/ops``).
"""

from .anchors import AnchorGenerator, generate_anchors, grid_anchors
from .box_coder import BBOX_XFORM_CLIP, decode_boxes, encode_boxes
from .boxes import (
    BOX_FORMATS,
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    remove_small_boxes,
)
from .masks_to_boxes import masks_to_boxes
from .matrix_nms import matrix_nms, pairwise_mask_iou
from .nms import batched_nms, batched_nms_reference, nms, nms_reference
from .roi_align import (
    bilinear_interpolate,
    roi_align,
    roi_align_reference,
    roi_align_sampling_points,
)
from .roi_pool import roi_pool, roi_pool_bins, roi_pool_reference

__all__ = [
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "clip_boxes_to_image",
    "remove_small_boxes",
    "masks_to_boxes",
    "nms",
    "nms_reference",
    "batched_nms",
    "batched_nms_reference",
    "matrix_nms",
    "pairwise_mask_iou",
    "roi_pool",
    "roi_pool_reference",
    "roi_pool_bins",
    "roi_align",
    "roi_align_reference",
    "roi_align_sampling_points",
    "bilinear_interpolate",
    "generate_anchors",
    "grid_anchors",
    "AnchorGenerator",
    "encode_boxes",
    "decode_boxes",
    "BBOX_XFORM_CLIP",
]
