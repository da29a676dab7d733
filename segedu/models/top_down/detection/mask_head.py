"""Mask R-CNN's mask branch (He et al., ICCV 2017): a small FCN on each region.

Each region's ``14 x 14`` RoIAlign features go through four 3x3 convolutions with ReLU
(``mask_fcn1..4`` in the paper's code; torchvision's keys ``mask_head.0.0`` .. ``mask_head.3.0``),
a 2x2 transposed convolution with stride 2 and ReLU (``conv5_mask``: ``28 x 28``) and a 1x1
convolution (``mask_fcn_logits``) giving one ``28 x 28`` mask logit map **per class**. Mask and
class are decoupled: the classifier decides the class; the mask of that class is the one used, so
classes do not compete for pixels (a per-pixel sigmoid, not a softmax).

**Loss.** For each positive proposal, the target is the proposal's window of its matched
ground-truth mask, resampled to ``28 x 28`` with RoIAlign; the loss is the mean binary
cross-entropy of the ground-truth class's logits against it.

**Inference.** The sigmoid of the predicted class's map, ``(N, 1, 28, 28)`` per image, pasted into
the image afterwards (:mod:`.paste_masks`). Equals torchvision's ``MaskRCNNHeads``,
``MaskRCNNPredictor``, ``maskrcnn_loss`` and ``maskrcnn_inference``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ....ops import roi_align

__all__ = ["MaskRCNNHeads", "MaskRCNNPredictor", "mask_targets", "maskrcnn_loss",
           "maskrcnn_inference"]


class MaskRCNNHeads(nn.Sequential):
    """Four (by default) 3x3 conv + ReLU: ``(R, C, 14, 14)`` -> ``(R, layers[-1], 14, 14)``."""

    def __init__(self, *, in_channels: int, layers: tuple[int, ...] = (256, 256, 256, 256),
                 dilation: int = 1) -> None:
        blocks, channels = [], in_channels
        for width in layers:
            # nested as torchvision's Conv2dNormActivation: keys i.0.weight
            blocks.append(nn.Sequential(nn.Conv2d(channels, width, 3, padding=dilation,
                                                  dilation=dilation),
                                        nn.ReLU(inplace=True)))
            channels = width
        super().__init__(*blocks)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # old checkpoints (torchvision's COCO ones) use Detectron's names mask_fcn1..4
        for i in range(len(self)):
            for kind in ("weight", "bias"):
                old = f"{prefix}mask_fcn{i + 1}.{kind}"
                if old in state_dict:
                    state_dict[f"{prefix}{i}.0.{kind}"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args)


class MaskRCNNPredictor(nn.Sequential):
    """``(R, C, 14, 14)`` -> mask logits ``(R, K, 28, 28)``: 2x2 transposed conv + ReLU,
    1x1 conv."""

    def __init__(self, *, in_channels: int, dim_reduced: int, num_classes: int) -> None:
        super().__init__(OrderedDict([
            # x2 upsampling
            ("conv5_mask", nn.ConvTranspose2d(in_channels, dim_reduced, 2, stride=2)),
            ("relu", nn.ReLU(inplace=True)),
            ("mask_fcn_logits", nn.Conv2d(dim_reduced, num_classes, 1)),  # one map per class
        ]))
        for name, param in self.named_parameters():
            if "weight" in name:
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")


def mask_targets(gt_masks: torch.Tensor, proposals: torch.Tensor, matched: torch.Tensor,
                 size: int) -> torch.Tensor:
    """The ``(P, size, size)`` training targets: each proposal's window of its ground-truth mask.

    ``gt_masks (G, H, W)``, ``proposals (P, 4)`` in the same (resized) image, ``matched (P,)`` the
    ground-truth index of each proposal. RoIAlign treats each ground-truth mask as one "image" of
    a batch, so the matched index is the RoI's batch index.
    """
    rois = torch.cat([matched.to(proposals)[:, None], proposals], dim=1)  # (P, 5)
    return roi_align(gt_masks[:, None].to(rois), rois, (size, size), 1.0)[:, 0]


def maskrcnn_loss(mask_logits: torch.Tensor, proposals: list[torch.Tensor],
                  gt_masks: list[torch.Tensor],
                  gt_labels: list[torch.Tensor], matched: list[torch.Tensor]) -> torch.Tensor:
    """Mean per-pixel BCE of the ground-truth class's ``28 x 28`` logits, over
    positive proposals."""
    size = mask_logits.shape[-1]
    labels = torch.cat([gt[m] for gt, m in zip(gt_labels, matched, strict=True)])  # (P,)
    targets = torch.cat([mask_targets(g, p, m, size)
                         for g, p, m in zip(gt_masks, proposals, matched, strict=True)])
    if targets.numel() == 0:  # no positive proposal: a zero that keeps the graph
        return mask_logits.sum() * 0
    chosen = mask_logits[torch.arange(len(labels), device=labels.device), labels]  # (P, 28, 28)
    return F.binary_cross_entropy_with_logits(chosen, targets)


def maskrcnn_inference(mask_logits: torch.Tensor, labels: list[torch.Tensor]) -> list[torch.Tensor]:
    """Mask logits ``(R, K, 28, 28)`` -> per image ``(R_i, 1, 28, 28)`` probabilities of the
    predicted class."""
    probabilities = mask_logits.sigmoid()
    counts = [len(label) for label in labels]
    labels = torch.cat(labels)
    chosen = probabilities[torch.arange(len(labels), device=labels.device), labels][:, None]
    return list(chosen.split(counts, dim=0))
