"""Segment Anything (Kirillov, Mintun, Ravi, Mao, Rolland, Gustafson, Xiao, Whitehead, Berg, Lo,
Dollár & Girshick, "Segment Anything", ICCV 2023): promptable segmentation.

One concept per module, following segment-anything's ``modeling/`` (same parameter names, so the
official checkpoints load directly, and the same outputs, tested against segment-anything):

- :mod:`.layers`: ``LayerNorm2d``, ``MLPBlock`` (the decoder's heads are
  :class:`segedu.nn.mlp.MLP`);
- :mod:`.windows`, :mod:`.relative_position`: window partition and decomposed relative
  positions of the ViT;
- :mod:`.image_encoder`: ``ImageEncoderViT`` (windowed and global attention, the neck);
- :mod:`.position_encoding`: ``PositionEmbeddingRandom`` (random Fourier features);
- :mod:`.prompt_encoder`: ``PromptEncoder`` (points, boxes, masks);
- :mod:`.two_way_transformer`: ``TwoWayTransformer``;
- :mod:`.mask_decoder`: ``MaskDecoder`` (multimask output, IoU head);
- :mod:`.sam`: ``Sam`` (``forward(batched_input, multimask_output)``, pre/post-processing);
- :mod:`.build`: the registered builders ``sam_vit_b``, ``sam_vit_l``, ``sam_vit_h`` (official
  checkpoints) and ``sam_tiny`` (segedu's zoo);
- :mod:`.transforms`: ``ResizeLongestSide``;
- :mod:`.predictor`: ``SamPredictor`` (embed once, prompt many times);
- :mod:`.amg`, :mod:`.automatic_mask_generator`: ``SamAutomaticMaskGenerator``
  ("segment everything");
- :mod:`.labelling`: detector boxes -> SAM masks -> a COCO annotation file.
"""

from ....nn.layer_norm_2d import LayerNorm2d
from ....nn.mlp_block import MLPBlock
from . import amg
from .automatic_mask_generator import SamAutomaticMaskGenerator
from .build import OFFICIAL_URLS, build_sam, sam_tiny, sam_vit_b, sam_vit_h, sam_vit_l
from .image_encoder import ImageEncoderViT
from .labelling import label_images, write_coco
from .mask_decoder import MaskDecoder
from .position_encoding import PositionEmbeddingRandom
from .predictor import SamPredictor, predictor_image
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .transforms import ResizeLongestSide
from .two_way_transformer import TwoWayTransformer

__all__ = [
    "amg",
    "label_images",
    "write_coco",
    "Sam",
    "ImageEncoderViT",
    "PromptEncoder",
    "PositionEmbeddingRandom",
    "TwoWayTransformer",
    "MaskDecoder",
    "LayerNorm2d",
    "MLPBlock",
    "ResizeLongestSide",
    "SamPredictor",
    "predictor_image",
    "SamAutomaticMaskGenerator",
    "build_sam",
    "sam_vit_b",
    "sam_vit_l",
    "sam_vit_h",
    "sam_tiny",
    "OFFICIAL_URLS",
]
