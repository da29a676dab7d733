"""Segmentation models, built by name: ``get_model(name, *, weights=None, **kwargs)``.

- :mod:`~segedu.models.registry`: the registry and weight loading;
- :mod:`~segedu.models.heads`: the FCN head and DeepLabv3's ASPP head;
- :mod:`~segedu.models.fcn_resnet`: ``fcn_resnet50`` and ``deeplabv3_resnet50`` (torchvision's);
- :mod:`~segedu.models.deeplabv3plus`: ``deeplabv3plus`` (ResNet backbone, separable ASPP, decoder);
- :mod:`~segedu.models.fcn_vgg`: ``fcn32s``, ``fcn16s``, ``fcn8s`` on VGG16 (the original FCNs);
- :mod:`~segedu.models.segnet`: ``segnet`` (VGG16-BN encoder, decoder that unpools with its indices);
- :mod:`~segedu.models.pspnet`: ``pspnet_resnet50`` and ``pspnet`` (pyramid pooling module,
  auxiliary loss);
- :mod:`~segedu.models.unet` and :mod:`~segedu.models.unet3d`: ``unet_original`` (572 -> 388),
  ``unet`` (padded), ``resunet`` and ``unet3d``;
- :mod:`~segedu.models.unet_weight_map`: ``unet_weight_map`` (cells: gaps, the border weight map,
  connected components);
- :mod:`~segedu.models.cellpose`: ``cellpose`` (flows from heat diffusion, flow following, mask
  recovery; equal to the cellpose package's post-processing);
- :mod:`~segedu.models.stardist`: ``stardist`` (star-convex polygons: distances along rays, object
  probability, polygon NMS; the targets equal the stardist package's);
- :mod:`~segedu.models.spatial_embedding`: ``spatial_embedding`` (pixel offsets to the centre with a
  learned bandwidth, Neven et al. 2019) and distance maps;
- :mod:`~segedu.models.unet_resnet`: ``unet_resnet`` (a ResNet encoder, as segmentation-models-pytorch's
  ``Unet``);
- :mod:`~segedu.models.detection`: ``fasterrcnn_resnet50_fpn`` and ``maskrcnn_resnet50_fpn``
  (torchvision's), ``maskrcnn_resnet_fpn`` (slim, for the zoo), and their parts (FPN, RPN, RoI heads);
- :mod:`~segedu.models.yolact`: ``yolact`` (slim, for the zoo) and ``yolact_resnet50`` (the paper's);
- :mod:`~segedu.models.panoptic_fpn`: ``panoptic_fpn`` (slim Mask R-CNN plus the semantic branch,
  merged into panoptic maps by the paper's heuristics);
- :mod:`~segedu.models.dino`: ``dino_vits16`` and ``dino_vitb16`` (timm's and DINO's ViTs),
  ``dino_vit_tiny``; DINO's self-distillation (head, loss, EMA teacher, multi-crop) and k-means /
  PCA on patch features;
- :mod:`~segedu.models.detr`: DETR's Hungarian matcher and set loss;
- :mod:`~segedu.models.mask2former`: ``mask2former`` (slim) and ``mask2former_resnet50`` (the
  paper's R50): deformable pixel decoder, masked-attention decoder, point-sampled set loss,
  semantic / instance / panoptic inference;
- :mod:`~segedu.models.sam`: ``sam_vit_b``, ``sam_vit_l``, ``sam_vit_h`` (segment-anything's) and
  ``sam_tiny``: image encoder, prompt encoder, two-way mask decoder, the predictor and the
  automatic mask generator.

The FCN-8s, SegNet, PSPNet and DeepLabv3+ builders take a ``width`` (or ``backbone_width``) below
the published 64 for the slim networks that :mod:`segedu.zoo` trains on a CPU.
"""

from . import (
    cellpose,
    deeplabv3plus,
    detection,
    detr,
    dino,
    fcn_resnet,
    fcn_vgg,
    mask2former,
    panoptic_fpn,
    pspnet,
    sam,
    segnet,
    spatial_embedding,
    stardist,
    unet,
    unet3d,
    unet_resnet,
    unet_weight_map,
    yolact,
)
from .registry import get_model, list_models, load_weights, register_model

__all__ = [
    "cellpose",
    "get_model",
    "list_models",
    "load_weights",
    "register_model",
    "deeplabv3plus",
    "detection",
    "detr",
    "dino",
    "fcn_resnet",
    "fcn_vgg",
    "mask2former",
    "panoptic_fpn",
    "pspnet",
    "sam",
    "segnet",
    "spatial_embedding",
    "stardist",
    "unet",
    "unet3d",
    "unet_weight_map",
    "unet_resnet",
    "yolact",
]
