"""Per-channel statistics of the ImageNet training set, the normalisation of pretrained backbones.

Every ImageNet-pretrained network (torchvision's weights, timm's, DINO's, Mask2Former's backbones)
expects its RGB input in ``[0, 1]`` standardised channel by channel,
``(image - IMAGENET_MEAN) / IMAGENET_STD``, with the mean and standard deviation of the ImageNet
training images. The values are torchvision's (its pretrained weights' ``transforms()``), which
timm, DINO and Mask2Former use as well; ``tests/data/test_statistics.py`` pins them.
"""

from __future__ import annotations

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]

#: Mean of the R, G, B channels of ImageNet's training images, for inputs in ``[0, 1]``.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
#: Standard deviation of the R, G, B channels, for inputs in ``[0, 1]``.
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
