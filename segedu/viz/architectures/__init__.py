"""The structure of each model family, for :mod:`segedu.viz.diagram`.

:func:`architecture` returns a :class:`~segedu.viz.diagram.Structure` for a segedu model: which
submodules are blocks, how they connect and where each sits on the layout grid. It reads only the
model's *structure* (how many levels, which heads exist); every shape and parameter count is
recorded later by running the model. Layouts per family:

- a **U** for encoder-decoders (:func:`unet_structure`, :func:`segnet_structure`): the encoder
  steps down a row per level, the decoder climbs back, skips run horizontally between them;
- a **chain** with **branches** for the context modules (PSPNet's pyramid pooling, DeepLab's
  ASPP) and FCN's score layers fused at three strides;
- a **pyramid** for FPN backbones (the bottom-up stages in one column, the levels beside them,
  a bus from the levels to the heads) and **stages** for the detectors behind it (RPN, RoI heads);
- **three parts** for SAM (image encoder, prompt encoder, mask decoder);
- DETR's ResNet in a row, its transformer below it, where the position code and the object
  queries enter (:func:`detr_structure`);
- OneFormer as Mask2Former, with the task token entering the query transformer and the
  decoder (:func:`oneformer_structure`);
- EoMT's ViT in a row, the queries entering before its last blocks, the prediction head
  after them (:func:`eomt_structure`);
- SegFormer's four encoder stages in a row, each one's map projected by the decoder's per-pixel
  MLP in a column beside them, all four fused (:func:`segformer_structure`);
- DINOv2's ViT with its class token, positions and registers entering (:func:`dinov2_structure`),
  and the linear probe on its frozen patch tokens (:func:`linear_probe_structure`);
- CLIPSeg's image encoder in a row, the decoder climbing back below it from the deepest
  extracted layer (the shallower ones added), the text prompt entering at FiLM
  (:func:`clipseg_structure`);
- the one-stage detectors (:func:`retinanet_structure`, :func:`ssd_structure`): RetinaNet's
  pyramid or SSD's column of shrinking maps, all feeding the class and box outputs over every
  anchor, beside the anchors and the detections;
- SOLOv2 (:func:`solov2_structure`): the pyramid, the category and kernel branches on every
  level's grid, the mask features, and the masks they make together;
- SAM 2's image encoder, memory attention and SAM head in a row, the memory encoder, object
  pointer and memory bank above them, looping back into the memory attention
  (:func:`sam2_structure`);
- Swin's and ConvNeXt's four stages in a row (:func:`classifier_structure`), and the U-Net
  decoder on them as a U (:func:`unet_on_backbone_structure`).

One file per family (a new family adds a file and a line in ``_STRUCTURES``); the layout helpers
that several share are in :mod:`.common`.
"""

from __future__ import annotations

from torch import nn

from ...models.bottom_up.cellpose.model import Cellpose
from ...models.bottom_up.denoiseg.model import DenoiSeg
from ...models.bottom_up.omnipose.model import Omnipose
from ...models.bottom_up.spatial_embedding.model import SpatialEmbedding
from ...models.bottom_up.stardist.model import StarDist
from ...models.foundation.clipseg import CLIPSeg
from ...models.foundation.dinov2 import Dinov2, LinearProbe
from ...models.foundation.sam.sam import Sam
from ...models.foundation.sam2 import Sam2
from ...models.semantic.deeplabv3plus import DeepLabV3Plus
from ...models.semantic.fcn_resnet import DilatedResNetSegmenter
from ...models.semantic.fcn_vgg import FCN
from ...models.semantic.segformer import Segformer
from ...models.semantic.segnet import SegNet
from ...models.semantic.unet import UNet
from ...models.semantic.unet_resnet import UNetOnBackbone
from ...models.top_down.detection.generalized_rcnn import GeneralizedRCNN
from ...models.top_down.detection.retinanet.model import RetinaNet
from ...models.top_down.detection.ssd.model import SSD
from ...models.top_down.solov2.model import SOLOv2
from ...models.top_down.yolact.model import Yolact
from ...models.top_down.yolo_grid import YoloGrid
from ...models.universal.detr.model import DETR
from ...models.universal.eomt.model import Eomt
from ...models.universal.mask2former.model import Mask2Former
from ...models.universal.oneformer.model import OneFormer
from ...nn.backbone import Backbone
from ...nn.resnet import ResNet
from ...nn.vit import VisionTransformer
from ..diagram_structure import Structure
from .backbones import classifier_structure, unet_on_backbone_structure
from .cells import (
    cellpose_structure,
    denoiseg_structure,
    omnipose_structure,
    spatial_embedding_structure,
    stardist_structure,
)
from .clipseg import clipseg_structure
from .common import resnet_blocks, resnet_structure, vit_structure
from .deeplabv3plus import deeplabv3plus_structure
from .detr import detr_structure
from .dinov2 import dinov2_structure, linear_probe_structure
from .eomt import eomt_structure
from .fcn import fcn_vgg_structure, resnet_head_structure
from .mask2former import mask2former_structure
from .one_stage import retinanet_structure, ssd_structure
from .oneformer import oneformer_structure
from .rcnn import rcnn_structure
from .sam import sam_structure
from .sam2 import sam2_structure
from .segformer import segformer_structure
from .segnet import segnet_structure
from .solov2 import solov2_structure
from .unet import unet_structure
from .yolact import yolact_structure
from .yolo_grid import yolo_grid_structure

__all__ = ["architecture", "unet_structure", "segnet_structure", "resnet_blocks"]

_STRUCTURES = [
    (FCN, fcn_vgg_structure), (DeepLabV3Plus, deeplabv3plus_structure),
    (Segformer, segformer_structure),
    (DilatedResNetSegmenter, resnet_head_structure), (SegNet, segnet_structure),
    (UNet, unet_structure), (YoloGrid, yolo_grid_structure), (GeneralizedRCNN, rcnn_structure),
    (Yolact, yolact_structure), (SOLOv2, solov2_structure), (RetinaNet, retinanet_structure),
    (SSD, ssd_structure),
    (StarDist, stardist_structure), (Cellpose, cellpose_structure),
    (Omnipose, omnipose_structure), (DenoiSeg, denoiseg_structure),
    (SpatialEmbedding, spatial_embedding_structure), (Mask2Former, mask2former_structure),
    (DETR, detr_structure), (Eomt, eomt_structure), (OneFormer, oneformer_structure),
    (Sam, sam_structure), (VisionTransformer, vit_structure), (ResNet, resnet_structure),
    (Dinov2, dinov2_structure), (LinearProbe, linear_probe_structure),
    (CLIPSeg, clipseg_structure), (Sam2, sam2_structure),
    (Backbone, classifier_structure), (UNetOnBackbone, unet_on_backbone_structure),
]


def architecture(model: nn.Module) -> Structure:
    """The :class:`~segedu.viz.diagram.Structure` of a segedu model, from its family;
    ``TypeError`` for a model no family declares."""
    for cls, structure in _STRUCTURES:
        if isinstance(model, cls):
            return structure(model)
    known = ", ".join(cls.__name__ for cls, _ in _STRUCTURES)
    raise TypeError(f"no diagram structure for {type(model).__name__}; known: {known}")
