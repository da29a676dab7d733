r"""The spatial embedding network (Neven et al., CVPR 2019) on segedu's U-Net.

One network predicts, for every pixel of an ``(N, C, H, W)`` image:

- ``offsets`` ``(N, 2, H, W)``: :math:`o_i = \tanh(\cdot)`, added to the pixel's coordinate to give
  its embedding :math:`e_i = x_i + o_i` (``embeddings``, coordinates of :mod:`.coordinates`, about
  1/1023 per pixel), trained to land at its instance's centre;
- ``sigma`` ``(N, n_sigma, H, W)``: the raw bandwidth :math:`q_i` (:mod:`.bandwidth`), one value
  shared by x and y (``n_sigma=1``, the default: round nuclei) or one per axis (``n_sigma=2``,
  elliptic margins, the authors' Cityscapes cars and EmbedSeg);
- ``seed`` ``(N, 1, H, W)``: the seed score :math:`p_i = \mathrm{sigmoid}(\cdot)`
  (one class: nuclei).

The authors use a branched ERFNet (one encoder, one decoder for offsets and sigma, one for the
seed). segedu uses its padded U-Net as a shared feature extractor: its last decoder block gives
``(N, width, H, W)`` features (the U-Net's own 1x1 classifier is left out), and three 1x1
convolutions are the heads. As in the reference, the offset and sigma heads start at zero
weights with biases 0 (offsets: every embedding starts at its own pixel) and 1 (sigma:
:math:`q = 1`, a bandwidth of about 5 pixels).

The loss is :func:`.loss.spatial_embedding_loss`; :meth:`SpatialEmbedding.predict_instances`
clusters with :func:`.clustering.cluster_embeddings`.
"""

from __future__ import annotations

import torch
from torch import nn

from ...registry import register_model
from ...semantic.unet import UNet
from ..base import BottomUpModel
from .clustering import cluster_embeddings
from .coordinates import PIXEL_SIZE, coordinate_map
from .loss import CENTERS, spatial_embedding_loss

__all__ = ["SpatialEmbedding", "spatial_embedding"]


class SpatialEmbedding(BottomUpModel):
    """Spatial embeddings with learned bandwidth (see the module docstring); the bottom-up
    family's ``targets``, ``loss``, ``postprocess`` and ``predict_instances``
    (:mod:`segedu.models.bottom_up.base`).

    Args (keyword-only):
        in_channels: image channels ``C``.
        depth, width: the U-Net's poolings and first-level channels (H and W must be multiples
            of ``2**depth``).
        n_sigma: bandwidth channels, 1 (shared by x and y) or 2 (one per axis).
        pixel_size: coordinate units per pixel.
        center: the loss's instance centre, ``"centroid"`` or ``"mean_embedding"``.
        foreground_weight, w_inst, w_var, w_seed: the loss weights of :mod:`.loss`.
    """

    def __init__(self, *, in_channels: int = 1, depth: int = 3, width: int = 16, n_sigma: int = 1,
                 pixel_size: float = PIXEL_SIZE, center: str = "centroid",
                 foreground_weight: float = 10.0,
                 w_inst: float = 1.0, w_var: float = 10.0, w_seed: float = 1.0) -> None:
        super().__init__()
        if n_sigma not in (1, 2):
            raise ValueError("n_sigma must be 1 (shared bandwidth) or 2 (one per axis), got "
                             f"{n_sigma!r}")
        if center not in CENTERS:
            raise ValueError(f"center must be one of {CENTERS}, got {center!r}")
        if not pixel_size > 0:
            raise ValueError(f"pixel_size must be positive, got {pixel_size}")
        self.in_channels, self.n_sigma, self.pixel_size = in_channels, n_sigma, pixel_size
        self.loss_options = dict(center=center, pixel_size=pixel_size,
                                 foreground_weight=foreground_weight,
                                 w_inst=w_inst, w_var=w_var, w_seed=w_seed)
        # shared features: the padded U-Net without its 1x1 classifier -> (N, width, H, W)
        self.backbone = UNet(in_channels=in_channels, num_classes=width, depth=depth, width=width,
                             padding=True, batch_norm=True)
        self.backbone.head = nn.Identity()
        # the heads: 1x1 convolutions
        self.offset_head = nn.Conv2d(width, 2, 1)
        self.sigma_head = nn.Conv2d(width, n_sigma, 1)
        self.seed_head = nn.Conv2d(width, 1, 1)
        with torch.no_grad():  # the reference's initialisation of the offset and sigma outputs
            self.offset_head.weight.zero_()
            self.offset_head.bias.zero_()
            self.sigma_head.weight.zero_()
            self.sigma_head.bias.fill_(1.0)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images (N, C, H, W)`` -> ``offsets``, ``embeddings`` ``(N, 2, H, W)``, ``sigma``
        ``(N, n_sigma, H, W)``, ``seed`` ``(N, 1, H, W)``."""
        if (not isinstance(images, torch.Tensor) or images.ndim != 4
            or not images.is_floating_point()):
            raise ValueError(f"images must be a float tensor (N, C, H, W), got "
                             f"{getattr(images, 'dtype', type(images).__name__)} "
                             f"{tuple(getattr(images, 'shape', ()))}")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"images must have {self.in_channels} channels (N, C, H, W), got "
                             f"{tuple(images.shape)}")
        # (N, width, H, W); raises unless H, W are multiples of 2**depth
        features = self.backbone(images)["out"]
        offsets = torch.tanh(self.offset_head(features))  # (N, 2, H, W) in (-1, 1)
        coords = coordinate_map(*images.shape[2:], pixel_size=self.pixel_size, dtype=offsets.dtype,
                                device=offsets.device)  # (2, H, W)
        return {
            "offsets": offsets,
            "embeddings": coords + offsets,  # (N, 2, H, W): e = x + o
            "sigma": self.sigma_head(features),  # (N, n_sigma, H, W): raw bandwidth q
            "seed": torch.sigmoid(self.seed_head(features)),  # (N, 1, H, W)
        }

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training target of ONE image: ``{"instances": (H, W) int64}``
        (the ids themselves)."""
        if not isinstance(instances, torch.Tensor):
            raise TypeError(f"instances must be a tensor, got {type(instances).__name__}")
        if instances.ndim != 2:
            raise ValueError("instances must be one (H, W) label image, got shape "
                             f"{tuple(instances.shape)}")
        if instances.is_floating_point() or instances.is_complex() or instances.dtype == torch.bool:
            raise TypeError(f"instances must hold integer instance ids, got {instances.dtype}")
        if instances.numel() and instances.min() < 0:
            raise ValueError("instance ids must be >= 0 (0 = background), got "
                             f"{int(instances.min())}")
        return {"instances": instances.as_subclass(torch.Tensor).to(torch.int64)}

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar training loss of a batch (:func:`.loss.spatial_embedding_loss`)."""
        if "instances" not in targets:
            raise KeyError("targets needs 'instances' (N, H, W), as SpatialEmbedding.targets gives")
        return spatial_embedding_loss(outputs, targets["instances"], **self.loss_options)["loss"]

    def postprocess(self, outputs: dict[str, torch.Tensor], *, seed_thresh: float = 0.5,
                    fg_thresh: float = 0.5, min_size: int = 10,
                    min_unclustered_fraction: float = 0.5) -> list[torch.Tensor]:
        """Cluster every image of a batch of outputs: one ``(H, W)`` int64 label image each, on
        the CPU (the thresholds of :func:`.clustering.cluster_embeddings`)."""
        options = dict(seed_thresh=seed_thresh, fg_thresh=fg_thresh, min_size=min_size,
                       min_unclustered_fraction=min_unclustered_fraction)
        return [cluster_embeddings(e, s, p, **options).cpu()
                for e, s, p in zip(outputs["embeddings"], outputs["sigma"], outputs["seed"],
                                   strict=True)]


@register_model("spatial_embedding")
def spatial_embedding(*, in_channels: int = 1, **kwargs) -> SpatialEmbedding:
    """The slim network for 128 x 128 synthetic cells on a CPU: U-Net of depth 3 and width 16, one
    sigma channel; 482,500 parameters with one input channel (checked in the tests).
    """
    return SpatialEmbedding(in_channels=in_channels, **kwargs)
