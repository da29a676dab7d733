"""Mask R-CNN (He et al., ICCV 2017): Faster R-CNN plus a mask for every detection.

A third branch beside the box head segments each region: RoIAlign (14 x 14, never the quantised
RoIPool: a mask needs pixel-exact alignment), four 3x3 convolutions, a 2x2 transposed convolution
to 28 x 28 and one mask per class (:mod:`.mask_head`); at inference the detected class's mask is
pasted into the image (:mod:`.paste_masks`).

``maskrcnn_resnet50_fpn`` equals torchvision's model of that name, parameter names included;
``weights="official"`` loads torchvision's COCO checkpoint (box AP 37.9, mask AP 34.6).
Parameters: 44,401,393 with frozen batch norm (as with the COCO weights; torchvision's documented
number) and 44,454,513 with trainable batch norm (random initialisation).

``maskrcnn_resnet_fpn`` is segedu's slim version for the synthetic scenes (see its docstring).
"""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

from ....nn.fpn import BackboneWithFPN, LastLevelMaxPool
from ....nn.resnet import resnet_by_name
from ...registry import register_model
from .faster_rcnn import FPN_LEVELS, FasterRCNN, resnet50_fpn_backbone
from .mask_head import MaskRCNNHeads, MaskRCNNPredictor
from .multiscale_roi_align import MultiScaleRoIAlign

__all__ = ["MaskRCNN", "maskrcnn_resnet50_fpn", "maskrcnn_resnet_fpn", "MASKRCNN_URL"]

# torchvision's address of its COCO checkpoint, read from its weight enum (the file name
# carries the first digits of the SHA-256 that torch.hub checks)
MASKRCNN_URL = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url


class MaskRCNN(FasterRCNN):
    """Faster R-CNN with the mask branch; arguments as :class:`FasterRCNN`, plus (keyword-only)
    ``mask_channels``: the width of the four mask convolutions and of the transposed one (256)."""

    def __init__(self, *, backbone: nn.Module, num_classes: int, mask_channels: int = 256,
                 **kwargs) -> None:
        mask_branch = {
            "mask_roi_pool": MultiScaleRoIAlign(featmap_names=FPN_LEVELS, output_size=14,
                                                sampling_ratio=2),
            "mask_head": MaskRCNNHeads(in_channels=backbone.out_channels,
                                       layers=(mask_channels,) * 4),
            "mask_predictor": MaskRCNNPredictor(in_channels=mask_channels,
                                                dim_reduced=mask_channels,
                                                num_classes=num_classes),
        }
        super().__init__(backbone=backbone, num_classes=num_classes, roi_heads_extra=mask_branch,
                         **kwargs)


@register_model("maskrcnn_resnet50_fpn", official=lambda: MASKRCNN_URL)
def maskrcnn_resnet50_fpn(*, num_classes: int = 91, **kwargs) -> MaskRCNN:
    """torchvision's ``maskrcnn_resnet50_fpn``; ``kwargs`` are :class:`FasterRCNN`'s (``min_size``,
    ``max_size``, ``box_score_thresh``, ``rpn_*``, ``box_roi_pool``, ...)."""
    return MaskRCNN(backbone=resnet50_fpn_backbone(), num_classes=num_classes, **kwargs)


@register_model("maskrcnn_resnet_fpn")
def maskrcnn_resnet_fpn(*, num_classes: int = 4, backbone: str = "resnet18",
                        backbone_width: int = 16,
                        fpn_channels: int = 64, representation_size: int = 256,
                        mask_channels: int = 64,
                        anchor_sizes: tuple[tuple[float, ...], ...] = ((8,), (16,), (32,), (64,),
                                                                       (128,)),
                        min_size: int = 128, max_size: int = 128, **kwargs) -> MaskRCNN:
    """A slim Mask R-CNN for segedu's 128 x 128 synthetic scenes, trained from scratch.

    A ResNet-18 of width 16 (trainable batch norm), a 64-wide FPN, anchors of 8 to 128 pixels (one
    size per level, ratios 0.5, 1, 2) for objects of 8-50 px, a 256-wide box head and a 64-wide
    mask branch; images of 128 px are not resized. With the defaults (4 classes: background,
    circle, rectangle, triangle) it has 1,941,751 parameters. ``kwargs`` are :class:`FasterRCNN`'s.
    """
    body = resnet_by_name(backbone, include_top=False, width=backbone_width)
    pyramid = BackboneWithFPN(body=body, returned_stages=(1, 2, 3, 4), out_channels=fpn_channels,
                              extra_blocks=LastLevelMaxPool())
    return MaskRCNN(backbone=pyramid, num_classes=num_classes, mask_channels=mask_channels,
                    representation_size=representation_size, anchor_sizes=anchor_sizes,
                    min_size=min_size,
                    max_size=max_size, **kwargs)
