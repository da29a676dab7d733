r"""Class activation maps (Zhou et al., "Learning Deep Features for Discriminative Localization",
CVPR 2016): where a classifier trained on image-level labels looks for each class.

The classifier must end in global average pooling (GAP) and one linear layer. With the last
feature maps :math:`f_c(x, y)` (``C`` channels of ``h x w``) and the linear layer's weights
:math:`w_{kc}` and bias :math:`b_k`, the score of class ``k`` is

.. math:: s_k = \sum_c w_{kc} \frac{1}{hw} \sum_{x, y} f_c(x, y) + b_k
              = \frac{1}{hw} \sum_{x, y} M_k(x, y) + b_k ,
   \qquad M_k(x, y) = \sum_c w_{kc} f_c(x, y) ,

because the sums can swap. :math:`M_k` is the CAM of class ``k``: how much each position adds to
the class's score. It costs one more product (a 1x1 convolution with the linear layer's weights)
and no gradient; it has the feature maps' resolution (here 1/8 of the image).

Image-level labels are multi-label here (a scene shows several classes), so the classifier is
trained with a sigmoid and binary cross-entropy per class (:func:`image_level_labels` gives the
targets from a label map, as an annotator who only ticks the classes present would).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import resnet18

__all__ = ["CAMClassifier", "class_activation_maps", "image_level_labels"]


def class_activation_maps(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``M_k = sum_c w_kc f_c``: features ``(N, C, h, w)`` and the linear layer's weight
    ``(K, C)`` -> CAMs ``(N, K, h, w)`` (the bias, constant over positions, is left out as in
    the paper)."""
    if features.dim() != 4 or weight.dim() != 2 or features.shape[1] != weight.shape[1]:
        raise ValueError(f"need features (N, C, h, w) and weight (K, C) with the same C, got "
                         f"{tuple(features.shape)} and {tuple(weight.shape)}")
    return torch.einsum("kc,nchw->nkhw", weight, features)


def image_level_labels(semantic: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Which classes each image shows: label maps ``(N, H, W)`` -> multi-hot ``(N, K)`` float
    (1 where the class has at least one pixel)."""
    if semantic.dim() != 3:
        raise ValueError(f"semantic must be (N, H, W), got shape {tuple(semantic.shape)}")
    classes = torch.arange(num_classes, device=semantic.device)
    return (semantic.flatten(1)[:, :, None] == classes).any(dim=1).float()


class CAMClassifier(nn.Module):
    """A multi-label classifier with CAMs: backbone -> GAP -> linear.

    Args:
        num_classes: ``K``.
        width: the ResNet-18 backbone's width (16: a slim one that trains on a CPU).

    The backbone is ResNet-18 (:func:`segedu.nn.resnet18`) with dilation instead of stride in its
    last two stages, so its features are 1/8 of the image (16 x 16 on 128 x 128 scenes) instead
    of 1/32: finer CAMs, as DeepLab keeps finer features (chapter 9).
    """

    def __init__(self, *, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.backbone = resnet18(width=width, include_top=False,
                                 replace_stride_with_dilation=(False, True, True))
        self.classifier = nn.Linear(self.backbone.out_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> the last feature maps (N, C, H/8, W/8)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> class scores (logits) (N, K): GAP of the features, then linear."""
        pooled = self.features(x).mean(dim=(2, 3))  # global average pooling: (N, C)
        return self.classifier(pooled)

    def cams(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> CAMs (N, K, H/8, W/8) (:func:`class_activation_maps`)."""
        return class_activation_maps(self.features(x), self.classifier.weight)

    def upsampled_cams(self, x: torch.Tensor) -> torch.Tensor:
        """The CAMs at the image's size (N, K, H, W), bilinear."""
        return F.interpolate(self.cams(x), size=x.shape[-2:], mode="bilinear",
                             align_corners=False)
