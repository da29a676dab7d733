"""The network that Cellpose and Omnipose share: a U-Net whose output channels are named maps.

Cellpose (Stringer et al., Nature Methods 2021) and Omnipose (Cutler et al., Nature Methods 2022)
train the same network (Omnipose's code builds Cellpose's residual U-Net); they differ in the maps
it predicts and in what those maps mean. Here both are segedu's padded residual U-Net
(:class:`segedu.models.semantic.unet.UNet`, batch norm, zero padding, so the maps have the
image's size; a simplification of the 2021 network, whose "style" vector, the global average of
the deepest features, is added at every up-sampling level), with one final 1x1 convolution whose
channels are split into the family's maps:

- Cellpose: ``flows`` (2: dy, dx) and ``cellprob`` (1 logit);
- Omnipose: ``flows`` (2), ``distance`` (1) and ``boundary`` (1 logit), in Omnipose's order.

A family subclasses :class:`FlowNetwork`, names its maps in ``maps`` and adds what its paper adds
(``targets``, ``loss``, ``postprocess`` of :class:`~.base.BottomUpModel`). The U-Net is the
attribute ``unet``, so the state dict's keys are ``unet.*`` for both families.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..semantic.unet import UNet
from .base import BottomUpModel

__all__ = ["FlowNetwork", "check_map_pairs"]


class FlowNetwork(BottomUpModel):
    """``(N, in_channels, H, W)`` -> ``{name: (N, channels, H, W)}`` for each ``(name,
    channels)`` of the class attribute ``maps``, in that order, from one padded U-Net.

    Args (keyword-only):
        in_channels: image channels ``C``.
        depth: down-sampling steps of the U-Net (H and W must be multiples of ``2**depth``).
        width: channels of its first level (doubled at each step down).
        residual: shortcuts around every double convolution (a residual U-Net).
    """

    maps: tuple[tuple[str, int], ...] = ()

    def __init__(self, *, in_channels: int = 1, depth: int = 3, width: int = 16,
                 residual: bool = True):
        super().__init__()
        if not self.maps:
            raise TypeError(f"{type(self).__name__} must name its output maps in `maps`")
        self.in_channels = in_channels
        self.unet = UNet(
            in_channels=in_channels, num_classes=sum(channels for _, channels in self.maps),
            depth=depth, width=width, padding=True, batch_norm=True, residual=residual,
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images`` ``(N, C, H, W)`` -> the named maps ``(N, channels, H, W)`` (``maps``)."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images must be (N, {self.in_channels}, H, W), got shape {tuple(images.shape)}"
            )
        out = self.unet(images)["out"]  # raises ValueError on a bad H, W
        names = [name for name, _ in self.maps]
        parts = out.split([channels for _, channels in self.maps], dim=1)
        return dict(zip(names, parts, strict=True))


def check_map_pairs(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                    keys: tuple[str, ...]) -> None:
    """Raise ``KeyError`` unless ``outputs`` and ``targets`` both have every one of ``keys``, and
    ``ValueError`` unless the two tensors of each key have the same shape (a loss's inputs)."""
    for key in keys:
        if key not in outputs or key not in targets:
            raise KeyError(f"outputs and targets must both have a {key!r} entry")
        if outputs[key].shape != targets[key].shape:
            raise ValueError(f"{key}: outputs of shape {tuple(outputs[key].shape)} do not match "
                             f"targets of shape {tuple(targets[key].shape)}")
