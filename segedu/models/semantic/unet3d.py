"""3D U-Net for volumes (Çiçek, Abdulkadir, Lienkamp, Brox & Ronneberger, 2016).

Reference: Ö. Çiçek et al., "3D U-Net: Learning Dense Volumetric Segmentation from Sparse
Annotation", MICCAI 2016, https://arxiv.org/abs/1606.06650.

The same network as :class:`segedu.models.semantic.unet.UNet` with every 2D layer replaced by its 3D
counterpart: ``Conv3d`` (3x3x3), ``BatchNorm3d``, ``MaxPool3d`` (2x2x2) and ``ConvTranspose3d``
(2x2x2, stride 2). Like the paper it uses batch norm and three poolings; unlike the paper (which
was unpadded and doubled the channels *inside* each level: 32-64, 64-128, ...) it is padded, so a
(N, C, D, H, W) volume with D, H, W multiples of ``2**depth`` keeps its size, and it doubles the
channels from level to level as the 2D U-Net does.
"""

from __future__ import annotations

from ..registry import register_model
from .unet import UNet

__all__ = ["UNet3D", "unet3d"]


class UNet3D(UNet):
    """U-Net on volumes: (N, in_channels, D, H, W) -> ``{"out": (N, num_classes, D, H, W)}``.

    D, H and W must be multiples of ``2**depth`` (a ``ValueError`` names the multiple otherwise).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 2,
        depth: int = 3,
        width: int = 32,
        batch_norm: bool = True,
        residual: bool = False,
        up: str = "transposed",
    ):
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            depth=depth,
            width=width,
            padding=True,
            batch_norm=batch_norm,
            residual=residual,
            up=up,
            dims=3,
        )


@register_model("unet3d")
def unet3d(**kwargs) -> UNet3D:
    """The padded 3D U-Net with batch norm (depth 3, width 32 by default)."""
    return UNet3D(**kwargs)
