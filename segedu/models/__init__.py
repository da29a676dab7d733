"""Segmentation models, built by name: ``get_model(name, *, weights=None, **kwargs)``.

- :mod:`~segedu.models.registry`: the registry and weight loading;
- :mod:`~segedu.models.heads`: the FCN head and DeepLabv3's ASPP head;
- :mod:`~segedu.models.fcn_resnet`: ``fcn_resnet50`` and ``deeplabv3_resnet50`` (torchvision's);
- :mod:`~segedu.models.fcn_vgg`: ``fcn32s``, ``fcn16s``, ``fcn8s`` on VGG16 (the original FCNs).
"""

from . import fcn_resnet, fcn_vgg
from .registry import get_model, list_models, load_weights, register_model

__all__ = ["get_model", "list_models", "load_weights", "register_model", "fcn_resnet", "fcn_vgg"]
