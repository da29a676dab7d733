r"""StarDist: a U-Net that predicts, per pixel, an object probability and a star polygon.

Schmidt, Weigert, Broaddus & Myers, "Cell Detection with Star-convex Polygons", MICCAI 2018,
https://arxiv.org/abs/1806.03535; reference implementation ``stardist`` (``StarDist2D``).

Network (as ``stardist.models.model2d.StarDist2D._build``)::

    image (N, C, H, W) -> U-Net features (N, width, H, W) -> 3x3 conv + ReLU (N, F, H, W)
        -> 1x1 conv -> prob logits (N, 1, H, W)       (StarDist: sigmoid activation)
        -> 1x1 conv -> dist        (N, R, H, W)       (StarDist: *linear* activation)

The distance head is linear, as in the reference: nothing forces the predicted distances to be
non-negative during training (the loss pulls them towards the non-negative targets); at prediction
time they are clamped to at least ``1e-3``, as ``StarDist2D.predict`` does.

Training targets (:meth:`StarDist.targets`): ``prob`` = normalised EDT of each object
(:mod:`.probability`) and ``dist`` = the star distances (:mod:`.rays`).

Loss (``StarDist2D.prepare_for_training`` with its defaults ``train_dist_loss='mae'``,
``train_loss_weights=(1, 0.2)``, ``train_background_reg=1e-4``):

.. math::
    L = \underbrace{\overline{\operatorname{BCE}(\hat p, p)}}_{\text{all pixels}}
      + 0.2\,\Bigl[\frac{\overline{p \cdot \tfrac1R \sum_k |d_k - \hat d_k|}}{\overline{p}
        + 10^{-7}}
      + 10^{-4}\,\overline{(1 - p)\,\tfrac1R \sum_k |\hat d_k|}\Bigr]

where bars are means over all pixels of the batch. The distance error is weighted by the true
object probability ``p`` (centre pixels count most, background not at all) and normalised by the
mean of ``p`` (``masked_loss_mae`` with ``norm_by_mask=True``); the tiny second term keeps
background predictions small. We compute the BCE from logits (numerically stable); Keras applies
it to sigmoid outputs clipped to ``[1e-7, 1 - 1e-7]``, the same except for saturated outputs.

Prediction (:meth:`StarDist.predict_instances`, as ``StarDist2D.predict_instances``): candidate
pixels with probability ``> prob_thresh`` (optionally only every ``grid``-th row and column, and
not within ``border`` pixels of the image edge), their polygons, polygon NMS
(:mod:`.nms`, threshold ``nms_thresh``), and the kept polygons rendered highest probability on
top (:mod:`.polygons`), relabelled 1..K. StarDist's default thresholds are ``prob_thresh=0.5,
nms_thresh=0.4``. **Difference:** StarDist drops the candidates within ``b = 2`` pixels of the image
edge ("predictions may not be reliable" there); then an object cut by the border whose confident
pixels all lie in that strip is lost (3 of 34 nuclei on SyntheticCells image 0, even with perfect
outputs). Our default is ``border=0``; ``border=2`` gives StarDist's behaviour.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.segmentation import relabel_sequential
from torch import nn

from ...registry import register_model
from ...semantic.unet import UNet
from ..base import BottomUpModel
from ._checks import _check_n_rays
from .labels import as_label_image
from .nms import polygon_nms
from .polygons import render_star_polygons
from .probability import object_probability
from .rays import star_distances

__all__ = ["StarDist", "stardist_loss", "stardist"]


def stardist_loss(
    outputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    *,
    loss_weights: tuple[float, float] = (1.0, 0.2),
    background_reg: float = 1e-4,
) -> torch.Tensor:
    """StarDist's training loss (module docstring): ``BCE + 0.2 * weighted, normalised MAE``.

    Args:
        outputs: ``{"prob": (N, 1, H, W) logits, "dist": (N, R, H, W)}``.
        targets: ``{"prob": (N, 1, H, W) in [0, 1], "dist": (N, R, H, W)}``.
    """
    prob_true, dist_true = targets["prob"].float(), targets["dist"].float()
    prob_logits, dist_pred = outputs["prob"], outputs["dist"]
    if prob_logits.shape != prob_true.shape or dist_pred.shape != dist_true.shape:
        raise ValueError(
            f"outputs and targets differ in shape: prob {tuple(prob_logits.shape)} vs "
            f"{tuple(prob_true.shape)}, dist {tuple(dist_pred.shape)} vs {tuple(dist_true.shape)}"
        )
    # 1. object probability: binary cross-entropy, averaged over all pixels
    prob_loss = F.binary_cross_entropy_with_logits(prob_logits, prob_true)
    # 2. distances: per pixel the mean absolute error over the rays, weighted by the
    #    true probability
    per_pixel = (prob_true * (dist_true - dist_pred).abs()).mean(dim=1)  # (N, H, W)
    dist_loss = per_pixel.mean() / (prob_true.mean() + 1e-7)  # normalised by the mean weight
    # 3. a tiny pull towards 0 of the distances predicted on (soft) background
    dist_loss = dist_loss + background_reg * ((1 - prob_true) * dist_pred.abs()).mean(dim=1).mean()
    return loss_weights[0] * prob_loss + loss_weights[1] * dist_loss


class StarDist(BottomUpModel):
    """StarDist 2D: U-Net backbone, a 3x3 feature layer and two 1x1 heads; the bottom-up
    family's ``targets``, ``loss``, ``postprocess`` and ``predict_instances``
    (:mod:`segedu.models.bottom_up.base`).

    ``forward(images (N, C, H, W))`` -> ``{"prob": (N, 1, H, W) logits, "dist": (N, R, H, W)}``;
    H and W must be multiples of ``2**depth``.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        n_rays: int = 32,
        depth: int = 3,
        width: int = 32,
        feature_channels: int = 128,
        batch_norm: bool = True,
    ):
        super().__init__()
        self.n_rays = _check_n_rays(n_rays)
        # the grid of the outputs, as StarDist's config.grid: 1, the heads predict every pixel (no
        # subsampled output); prediction takes its candidates on this grid
        self.grid = 1
        # U-Net without its 1x1 classifier: (N, C, H, W) -> (N, width, H, W) after a ReLU
        self.backbone = UNet(in_channels=in_channels, num_classes=1, depth=depth, width=width,
                             padding=True, batch_norm=batch_norm)
        self.backbone.head = nn.Identity()
        # StarDist's "features" layer (net_conv_after_unet = 128): 3x3 conv + ReLU
        self.features = nn.Sequential(nn.Conv2d(width, feature_channels, 3, padding=1),
                                      nn.ReLU(inplace=True))
        self.prob_head = nn.Conv2d(feature_channels, 1, 1)  # object probability logits
        self.dist_head = nn.Conv2d(feature_channels, self.n_rays, 1)  # ray lengths, linear

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        features = self.features(self.backbone(images)["out"])  # (N, F, H, W)
        return {"prob": self.prob_head(features), "dist": self.dist_head(features)}

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"prob": (1, H, W), "dist": (R, H, W)}`` float32 from one ``(H, W)`` label image."""
        labels = as_label_image(instances)
        return {
            "prob": object_probability(labels)[None],
            "dist": star_distances(labels, self.n_rays),
        }

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scalar loss of a batch, :func:`stardist_loss` with StarDist's default weights."""
        return stardist_loss(outputs, targets)

    @staticmethod
    def instances_from_maps(
        prob: torch.Tensor | np.ndarray,
        dist: torch.Tensor | np.ndarray,
        *,
        prob_thresh: float = 0.5,
        nms_thresh: float = 0.4,
        grid: int = 1,
        border: int = 0,
    ) -> torch.Tensor:
        """Post-processing of one image: ``prob (H, W)`` in [0, 1], ``dist (R, H, W)`` -> labels
        ``(H, W)``."""
        prob = torch.as_tensor(prob).detach().cpu().float().numpy()
        dist = torch.as_tensor(dist).detach().cpu().float().numpy()
        height, width = prob.shape
        # 1. candidates: pixels above the threshold, away from the border, on the grid
        candidate = prob > prob_thresh
        if border > 0:
            inner = np.zeros_like(candidate)
            inner[border:-border, border:-border] = True
            candidate &= inner
        on_grid = np.zeros_like(candidate)
        on_grid[::grid, ::grid] = True
        candidate &= on_grid
        points = np.argwhere(candidate)  # (K, 2) rows, columns
        rays = np.maximum(dist[:, candidate].T, 1e-3)  # (K, R), as StarDist's predict
        scores = prob[candidate]  # (K,)
        # 2. polygon NMS, 3. render the kept polygons, highest probability on top
        keep = polygon_nms(rays, points, scores, nms_thresh).numpy()
        labels = render_star_polygons(rays[keep], points[keep], scores[keep],
                                      (height, width)).numpy()
        # hidden polygons leave gaps in the ids: relabel 1..K
        return torch.from_numpy(relabel_sequential(labels)[0].astype(np.int64))

    def postprocess(
        self,
        outputs: dict[str, torch.Tensor],
        *,
        prob_thresh: float = 0.5,
        nms_thresh: float = 0.4,
        grid: int | None = None,
        border: int = 0,
    ) -> list[torch.Tensor]:
        """One ``(H, W)`` int64 label image per image of a batch of outputs
        (:meth:`instances_from_maps` on the sigmoid of ``"prob"`` and on ``"dist"``).

        ``grid`` (default: the model's own, ``self.grid``, as StarDist takes its config's grid)
        takes candidates on every ``grid``-th row and column. This model predicts every pixel, so
        its grid is 1: every pixel above ``prob_thresh`` proposes a polygon. ``grid=2`` gives a
        quarter of the candidates (neighbouring pixels propose almost the same polygon).
        """
        if grid is None:
            grid = self.grid
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be a positive integer, got {grid!r}")
        prob = torch.sigmoid(outputs["prob"][:, 0])  # (N, H, W)
        return [
            self.instances_from_maps(p, d, prob_thresh=prob_thresh, nms_thresh=nms_thresh,
                                     grid=grid,
                                    border=border)
            for p, d in zip(prob, outputs["dist"], strict=True)
        ]


@register_model("stardist")
def stardist(*, in_channels: int = 1, **kwargs) -> StarDist:
    """Slim StarDist for 128x128 synthetic cells: depth 3, width 16, 128 feature channels, 32 rays.

    505,249 parameters with ``in_channels=1`` (checked in the tests).
    """
    options = dict(n_rays=32, depth=3, width=16, feature_channels=128)
    options.update(kwargs)
    return StarDist(in_channels=in_channels, **options)
