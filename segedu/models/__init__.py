"""Segmentation models, built by name: ``get_model(name, *, weights=None, **kwargs)``.

One package per model family; the folder a model lives in says which contract it keeps
(:func:`model_family` names it; a family's contract is in its ``base.py``):

- :mod:`~segedu.models.registry`: the registry and weight loading;
- :mod:`~segedu.models.semantic`: FCN, SegNet, U-Net, PSPNet, DeepLab, SegFormer (a class score
  per pixel; ``forward`` returns ``{"out": logits[, "aux": ...]}``);
- :mod:`~segedu.models.top_down`: YOLO, Faster / Mask R-CNN, YOLACT (boxes first, then masks);
- :mod:`~segedu.models.bottom_up`: U-Net's weight map, StarDist, Cellpose, spatial embeddings
  (pixel maps grouped into objects; ``targets``, ``loss``, ``postprocess`` and
  ``predict_instances`` with one signature);
- :mod:`~segedu.models.universal`: DETR, Panoptic FPN, Mask2Former, EoMT, OneFormer;
- :mod:`~segedu.models.foundation`: DINO, DINOv2, CLIPSeg, SAM and SAM 2;
- :mod:`~segedu.models.classification`: Swin-T and ConvNeXt-T, ImageNet classifiers whose
  ``forward_stages`` gives the four feature maps a segmentation head taps.

The FCN-8s, SegNet, PSPNet and DeepLabv3+ builders take a ``width`` (or ``backbone_width``) below
the published 64 for the slim networks that :mod:`segedu.zoo` trains on a CPU.
"""

from . import bottom_up, classification, foundation, semantic, top_down, universal
from .registry import get_model, list_models, load_weights, model_family, register_model

__all__ = [
    "bottom_up",
    "classification",
    "foundation",
    "get_model",
    "list_models",
    "load_weights",
    "model_family",
    "register_model",
    "semantic",
    "top_down",
    "universal",
]
