"""SSD (Liu et al., ECCV 2016): a one-stage detector on several feature maps with default boxes.

One concept per module: :mod:`.vgg_backbone` (VGG-16, L2-normalised ``conv4_3``, extra layers),
:mod:`.default_boxes` (scales and aspect ratios per map), :mod:`.head` (a convolution per map),
:mod:`.matching` (IoU 0.5 and each box's best), :mod:`.loss` (hard-negative mining 3:1),
:mod:`.postprocess` (per-class top-k and NMS), :mod:`.model` (registered as ``ssd300_vgg16``).
"""

from .default_boxes import (
    SSD300_ASPECT_RATIOS,
    SSD300_SCALES,
    SSD300_STEPS,
    DefaultBoxGenerator,
)
from .head import SSDHead, SSDScoringHead
from .loss import hard_negatives, ssd_loss
from .matching import DefaultBoxMatcher
from .model import SSD, ssd300_vgg16
from .postprocess import ssd_detections
from .vgg_backbone import SSDVGGBackbone

__all__ = ["SSD", "SSD300_ASPECT_RATIOS", "SSD300_SCALES", "SSD300_STEPS",
           "SSDHead", "SSDScoringHead", "SSDVGGBackbone", "DefaultBoxGenerator",
           "DefaultBoxMatcher", "hard_negatives", "ssd_detections", "ssd_loss", "ssd300_vgg16"]
