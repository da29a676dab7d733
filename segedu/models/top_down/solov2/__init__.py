"""SOLOv2 (Wang et al., NeurIPS 2020): instance segmentation by location, with a convolution
kernel generated for each instance.

One concept per module:

- :mod:`.coordinates`: CoordConv's two coordinate channels;
- :mod:`.layers`: the convolution, GroupNorm, ReLU unit of every branch;
- :mod:`.category_branch`: class logits per cell of each level's ``S x S`` grid;
- :mod:`.kernel_branch`: a dynamic 1x1 kernel per cell;
- :mod:`.mask_feature`: the unified mask features ``F`` at 1/4 scale;
- :mod:`.dynamic_conv`: a mask is its kernel convolved with ``F``;
- :mod:`.targets`: which cells own which object (scale ranges, centre sampling);
- :mod:`.loss`: focal loss on the categories + 3 x Dice loss on the masks;
- :mod:`.postprocess`: maskness, Matrix NMS (:func:`segedu.ops.matrix_nms`), full-size masks;
- :mod:`.model`: :class:`SOLOv2` and the registered builders ``solov2`` and
  ``solov2_resnet50_fpn``.
"""

from . import model
from .category_branch import CategoryBranch
from .coordinates import coordinate_channels, with_coordinates
from .dynamic_conv import dynamic_masks
from .kernel_branch import KernelBranch
from .loss import solov2_dice_loss, solov2_loss
from .mask_feature import MaskFeatureBranch
from .model import SOLOv2, solov2, solov2_resnet50_fpn
from .postprocess import points_nms, solov2_detections
from .targets import centre_of_mass, positive_cells, solov2_targets

__all__ = ["model", "SOLOv2", "solov2", "solov2_resnet50_fpn", "CategoryBranch", "KernelBranch",
           "MaskFeatureBranch", "coordinate_channels", "with_coordinates", "dynamic_masks",
           "solov2_dice_loss", "solov2_loss", "points_nms", "solov2_detections",
           "centre_of_mass", "positive_cells", "solov2_targets"]
