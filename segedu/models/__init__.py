"""Segmentation models, built by name: ``get_model(name, *, weights=None, **kwargs)``.

One package per contract, and in it one package or module per model family; the folder a model
lives in says which contract it keeps (:func:`model_family` names it; a contract is stated in its
package's ``base.py``, except :mod:`~segedu.models.foundation`, whose models keep their
references' interfaces; ARCHITECTURE.md has the map):

- :mod:`~segedu.models.registry`: the registry and weight loading;
- :mod:`~segedu.models.semantic`: FCN, SegNet, U-Net, PSPNet, DeepLab, SegFormer (a class score
  per pixel; ``forward`` returns ``{"out": logits[, "aux": ...]}``);
- :mod:`~segedu.models.top_down`: YOLO, Faster / Mask R-CNN, RetinaNet, SSD, YOLACT, SOLOv2
  (boxes first, then masks; SOLOv2 by location);
- :mod:`~segedu.models.bottom_up`: U-Net's weight map, StarDist, Cellpose, Omnipose, DenoiSeg,
  spatial embeddings
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
