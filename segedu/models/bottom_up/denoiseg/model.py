"""DenoiSeg: one U-Net that denoises every image and segments the few that carry labels.

Reference: T.-O. Buchholz, M. Prakash, D. Schmidt, A. Krull, F. Jug, "DenoiSeg: joint denoising
and segmentation", ECCV 2020 workshops (BioImage Computing), arXiv:2005.02987; code:
https://github.com/juglab/DenoiSeg (denoiseg 0.3.1, TensorFlow).

A network is trained on many noisy images of which only a few are annotated. Every image teaches
denoising by Noise2Void's blind spots (:mod:`.blind_spot`), which needs no labels; the labelled
ones also teach a three-class segmentation (background, foreground, border). Both heads share the
whole U-Net, so the self-supervised half shapes the features that the segmentation uses: the
paper's result is that with 10 to 20 labelled images DenoiSeg segments better than a U-Net trained
on the same labels alone, most of all on noisy data.

The network maps ``(N, C, H, W)`` to ``C + 3`` maps per pixel (one denoised channel per input
channel, then the three class logits), as DenoiSeg. In training mode ``forward`` first hides the
blind-spot pixels (like dropout, a training-time-only randomness) and returns the noisy input and
the mask with the predictions, so that :meth:`DenoiSeg.loss` has what it scores. Instances are the
8-connected components of foreground probability > 0.5 (DenoiSeg tunes this threshold on the
validation set).

Backbone: segedu's padded U-Net (:class:`segedu.models.semantic.unet.UNet`), as DenoiSeg's CSBDeep
U-Net (depth 4, 32 filters, batch norm), slimmer here.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi

from ...registry import register_model
from ...semantic.unet import UNet
from ..base import BottomUpModel
from .blind_spot import blind_spot_mask
from .loss import CLASS_WEIGHTS, denoiseg_loss, three_class_labels

__all__ = ["DenoiSeg", "denoiseg"]


class DenoiSeg(BottomUpModel):
    """DenoiSeg network: ``(N, in_channels, H, W)`` -> denoised ``(N, in_channels, H, W)`` and
    segmentation logits ``(N, 3, H, W)``; the bottom-up family's ``targets``, ``loss``,
    ``postprocess`` and ``predict_instances`` (:mod:`segedu.models.bottom_up.base`).

    ``alpha``: the weight of the denoising term (0.5, the paper's); ``mask_fraction``,
    ``mask_radius``: Noise2Void's share of hidden pixels (1.5 %) and neighbourhood radius (5).
    H and W must be multiples of ``2**depth``.
    """

    def __init__(self, *, in_channels: int = 1, depth: int = 3, width: int = 16,
                 alpha: float = 0.5, mask_fraction: float = 0.015, mask_radius: int = 5,
                 class_weights: tuple[float, float, float] = CLASS_WEIGHTS):
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.in_channels, self.alpha = in_channels, alpha
        self.mask_fraction, self.mask_radius = mask_fraction, mask_radius
        self.class_weights = tuple(class_weights)
        # C denoised channels, then the background, foreground and border logits
        self.unet = UNet(in_channels=in_channels, num_classes=in_channels + 3, depth=depth,
                         width=width, padding=True, batch_norm=True)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images`` ``(N, C, H, W)`` -> ``{"denoised": (N, C, H, W), "segmentation":
        (N, 3, H, W) logits, "noisy": (N, C, H, W) the input, "n2v_mask": (N, 1, H, W) bool}``.

        In training mode the network sees the images with their blind-spot pixels replaced
        (``n2v_mask`` marks them); in eval mode it sees them as they are (the mask is empty).
        """
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images must be (N, {self.in_channels}, H, W), got shape {tuple(images.shape)}"
            )
        if self.training:  # hide the blind spots (Noise2Void)
            seen, mask = blind_spot_mask(images.detach().cpu(), fraction=self.mask_fraction,
                                         radius=self.mask_radius)
            seen, mask = seen.to(images.device, images.dtype), mask.to(images.device)
        else:
            seen = images
            mask = torch.zeros((images.shape[0], 1, *images.shape[2:]), dtype=torch.bool,
                               device=images.device)
        out = self.unet(seen)["out"]  # (N, C + 3, H, W); raises ValueError on a bad H, W
        C = self.in_channels
        return {"denoised": out[:, :C], "segmentation": out[:, C:], "noisy": images,
                "n2v_mask": mask}

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"classes": (H, W) int64}``: 0 background, 1 foreground, 2 border; an all-zero
        label image is unlabelled (-1 everywhere; :func:`.loss.three_class_labels`)."""
        if not isinstance(instances, torch.Tensor) or instances.dim() != 2:
            raise ValueError(f"instances must be an (H, W) label image, got "
                             f"{tuple(getattr(instances, 'shape', ())) or type(instances)}")
        if instances.dtype.is_floating_point or instances.dtype == torch.bool:
            raise TypeError(f"instances must have an integer dtype, got {instances.dtype}")
        return {"classes": three_class_labels(instances)}

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """``alpha`` x Noise2Void's masked MSE + ``(1 - alpha)`` x the weighted three-class
        cross-entropy (:func:`.loss.denoiseg_loss`)."""
        return denoiseg_loss(outputs, targets, alpha=self.alpha, class_weights=self.class_weights)

    def postprocess(self, outputs: dict[str, torch.Tensor], *,
                    threshold: float = 0.5) -> list[torch.Tensor]:
        """One ``(H, W)`` int64 label image per image: the 8-connected components of the
        pixels whose foreground probability (softmax) exceeds ``threshold``."""
        probability = outputs["segmentation"].detach().float().softmax(dim=1)[:, 1]  # (N, H, W)
        labels = []
        for p in probability.cpu():
            pieces, _ = ndi.label((p > threshold).numpy(), structure=np.ones((3, 3)))
            labels.append(torch.from_numpy(pieces).long())
        return labels


@register_model("denoiseg")
def denoiseg(*, in_channels: int = 1, **kwargs) -> DenoiSeg:
    """Slim DenoiSeg for 128x128 synthetic cells: U-Net of depth 3, width 16, batch norm.

    482,500 parameters with ``in_channels=1`` (checked in the tests).
    """
    options = dict(depth=3, width=16)
    options.update(kwargs)
    return DenoiSeg(in_channels=in_channels, **options)
