"""ImageNet classifiers that serve as segmentation backbones (the contract is in :mod:`.base`).

- :mod:`.swin`: ``swin_t``, the Swin Transformer (shifted windows);
- :mod:`.convnext`: ``convnext_tiny``, ConvNeXt (a ResNet modernised).

Both give torchvision's logits with torchvision's weights (``weights="official"`` or a
torchvision state dict saved to a file), and four feature maps at strides 4-32 for the U-Nets of
:mod:`segedu.models.semantic.unet_resnet` (``unet_swin_t``, ``unet_convnext_tiny``).
"""

from .base import Backbone
from .convnext import convnext_tiny
from .swin import swin_t

__all__ = ["Backbone", "swin_t", "convnext_tiny"]
