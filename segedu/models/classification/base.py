"""The classification family's contract: ImageNet classifiers that are segmentation backbones.

Every model of :mod:`segedu.models.classification` is a :class:`segedu.nn.backbone.Backbone`:
``forward(images (N, 3, H, W))`` returns the class logits ``(N, num_classes)`` (as torchvision's
classifiers), and ``forward_stages(images)`` the four stages' maps ``(N, stage_channels[i],
H / strides[i], W / strides[i])`` at strides 4, 8, 16 and 32, which segmentation heads tap
(:class:`~segedu.models.semantic.unet_resnet.UNetOnBackbone`). Images are normalised with the
ImageNet mean and standard deviation (:data:`segedu.data.IMAGENET_MEAN`,
:data:`segedu.data.IMAGENET_STD`), as the published weights expect.
"""

from __future__ import annotations

from ...nn.backbone import Backbone

__all__ = ["Backbone"]
