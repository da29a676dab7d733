"""Semantic segmentation: one class score per pixel (Parts II–III of the book).

Every model here is a :class:`~.base.SemanticSegmenter`: it maps an image batch ``(N, 3, H, W)``
to ``{"out": logits (N, K, H, W)}``, plus ``"aux"`` when built with an auxiliary head
(:mod:`.base`):

- :mod:`.heads`: the FCN head and DeepLabv3's ASPP head;
- :mod:`.fcn_vgg`: ``fcn32s``, ``fcn16s``, ``fcn8s`` on VGG16 (Long et al. 2015);
- :mod:`.fcn_resnet`: ``fcn_resnet50`` and ``deeplabv3_resnet50`` (torchvision's);
- :mod:`.segnet`: ``segnet`` (Badrinarayanan et al. 2017);
- :mod:`.unet` and :mod:`.unet3d`: ``unet_original``, ``unet``, ``resunet`` and ``unet3d``
  (Ronneberger et al. 2015; Çiçek et al. 2016);
- :mod:`.unet_resnet`: ``unet_resnet`` (a ResNet encoder);
- :mod:`.pspnet`: ``pspnet_resnet50`` and ``pspnet`` (Zhao et al. 2017);
- :mod:`.deeplabv3plus`: ``deeplabv3plus`` (Chen et al. 2018);
- :mod:`.segformer`: ``segformer_b0`` ... ``segformer_b5`` and ``segformer_tiny`` (Xie et al. 2021).
"""

from . import (
    base,
    deeplabv3plus,
    fcn_resnet,
    fcn_vgg,
    heads,
    pspnet,
    segformer,
    segnet,
    unet,
    unet3d,
    unet_resnet,
)

__all__ = [
    "base",
    "deeplabv3plus",
    "fcn_resnet",
    "fcn_vgg",
    "heads",
    "pspnet",
    "segformer",
    "segnet",
    "unet",
    "unet3d",
    "unet_resnet",
]
