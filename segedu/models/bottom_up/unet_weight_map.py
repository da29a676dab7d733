r"""U-Net with the border weight map, as an instance segmenter: the paper's own recipe for cells.

Ronneberger et al. (MICCAI 2015) segment touching cells with a *semantic* network:

1. **Targets.** In the ground truth, every nucleus pixel that has a 4-neighbour in *another*
   nucleus becomes background (:func:`separate_touching`): touching nuclei are split by a gap
   two pixels wide, so the connected components of a perfect foreground are the nuclei.
2. **Loss.** Cross-entropy (foreground / background) weighted per pixel by the weight map
   :math:`w(x) = w_c(x) + w_0 \exp(-(d_1 + d_2)^2 / 2\sigma^2)`
   (:func:`segedu.losses.unet_weight_map`, computed on the separated labels), which makes the few
   gap pixels expensive to get wrong.
3. **Instances.** The connected components (4-connectivity) of the predicted foreground; then the
   gaps are given back: a background pixel with two different components within 2 pixels (a 5 x 5
   window) goes to the nearest one (``skimage.segmentation.expand_labels`` by one pixel, kept only
   on those gap pixels: growing every component by a pixel all round would add a ring that the
   ground truth does not have, and cost small nuclei their IoU). Components smaller than
   ``min_area`` pixels are dropped.

This is the semantic baseline of the bottom-up methods (StarDist, Cellpose): the same U-Net,
only the targets and the post-processing differ. It offers the cell models' common interface
(``targets``, ``loss``, ``predict_instances``) used by :mod:`segedu.zoo.cells`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.segmentation import expand_labels, relabel_sequential

from ...losses import unet_weight_map, weighted_cross_entropy
from ..registry import register_model
from ..semantic.unet import UNet
from .base import BottomUpModel

__all__ = ["separate_touching", "UNetWeightMap", "unet_weight_map_model"]

_CROSS = ndimage.generate_binary_structure(2, 1)  # 4-connectivity


def separate_touching(instances: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A copy of the ``(H, W)`` label image where every nucleus pixel with a 4-neighbour in another
    nucleus is background: touching nuclei end up two pixels apart. Returns int64 ``(H, W)``."""
    labels = instances.numpy() if isinstance(instances, torch.Tensor) else np.asarray(instances)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"instances must be an (H, W) integer label image, got {labels.dtype} "
                         f"{labels.shape}")
    # the largest and the smallest label around each pixel (itself and its 4 neighbours); the
    # background is made larger than every label so that it is never the smallest
    largest = ndimage.maximum_filter(labels, footprint=_CROSS, mode="constant", cval=0)
    big = int(labels.max(initial=0)) + 1
    smallest = ndimage.minimum_filter(np.where(labels > 0, labels, big), footprint=_CROSS,
                                      mode="constant", cval=big)
    touching = (labels > 0) & ((largest != labels) | (smallest != labels))
    return torch.from_numpy(np.where(touching, 0, labels).astype(np.int64))


class UNetWeightMap(BottomUpModel):
    """A padded U-Net with two classes (background, nucleus), trained with the border weight map;
    the bottom-up family's ``targets``, ``loss``, ``postprocess`` and ``predict_instances``
    (:mod:`segedu.models.bottom_up.base`).

    ``forward``: images ``(N, C, H, W)`` -> ``{"logits": (N, 2, H, W)}``; H and W multiples of
    ``2**depth``.
    """

    def __init__(self, *, in_channels: int = 1, depth: int = 3, width: int = 16, w0: float = 10.0,
                 sigma: float = 5.0, min_area: int = 8) -> None:
        super().__init__()
        self.unet = UNet(in_channels=in_channels, num_classes=2, depth=depth, width=width)
        self.w0, self.sigma, self.min_area = w0, sigma, min_area

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.unet(images)["out"]}  # (N, 2, H, W)

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """``semantic`` (H, W) int64 (1 = nucleus, with gaps) and ``weight`` (H, W) float32."""
        separated = separate_touching(instances)
        weight = unet_weight_map(separated, w0=self.w0, sigma=self.sigma)
        return {"semantic": (separated > 0).long(), "weight": weight}

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted cross-entropy (weighted mean over the batch's pixels)."""
        return weighted_cross_entropy(outputs["logits"].float(), targets["semantic"],
                                      targets["weight"])

    def postprocess(self, outputs: dict[str, torch.Tensor], *,
                    prob_thresh: float = 0.5) -> list[torch.Tensor]:
        """One ``(H, W)`` int64 label image per image of a batch of outputs: the
        :meth:`components` of the foreground (nucleus probability > ``prob_thresh``)."""
        foreground = outputs["logits"].float().softmax(1)[:, 1] > prob_thresh  # (N, H, W)
        return [self.components(mask) for mask in foreground.cpu().numpy()]

    def components(self, foreground: np.ndarray) -> torch.Tensor:
        """Instances of a ``(H, W)`` bool foreground: 4-connected components, the gaps between them
        given back, those under ``min_area`` pixels dropped, then numbered 1..K."""
        # 1. connected components of the foreground
        labels, _ = ndimage.label(foreground, structure=_CROSS)
        # 2. gap pixels: background with two different components in its 5 x 5 window
        window = np.ones((5, 5), dtype=bool)
        big = int(labels.max()) + 1  # larger than every label: the background is never the smallest
        largest = ndimage.maximum_filter(labels, footprint=window, mode="constant", cval=0)
        smallest = ndimage.minimum_filter(np.where(labels > 0, labels, big), footprint=window,
                                          mode="constant",
                                          cval=big)
        gap = (labels == 0) & (smallest < big) & (largest != smallest)
        # 3. each gap pixel within one pixel of a component goes to the nearest one
        labels = np.where(gap, expand_labels(labels, distance=1), labels)
        # 4. drop the specks
        ids, counts = np.unique(labels, return_counts=True)
        small = ids[(counts < self.min_area) & (ids > 0)]
        labels[np.isin(labels, small)] = 0
        labels, _, _ = relabel_sequential(labels)  # 5. numbered 1..K, background stays 0
        return torch.from_numpy(labels.astype(np.int64))


@register_model("unet_weight_map")
def unet_weight_map_model(*, in_channels: int = 1, **kwargs) -> UNetWeightMap:
    """The slim U-Net of the cell zoo (depth 3, width 16): 482,466 parameters."""
    return UNetWeightMap(in_channels=in_channels, **kwargs)
