"""ConvNeXt-T, registered as ``convnext_tiny``: :class:`segedu.nn.convnext.ConvNeXt` (Liu et al.,
CVPR 2022).

``get_model("convnext_tiny", weights="official")`` loads torchvision's ImageNet checkpoint
(``ConvNeXt_Tiny_Weights.IMAGENET1K_V1``, 82.52% top-1 on ImageNet-1k by torchvision's count),
renamed by :func:`~segedu.nn.convnext.convert_torchvision_convnext`; ``weights=<file>`` reads a
state dict in segedu's names or in torchvision's.
"""

from __future__ import annotations

from typing import Any

from ...nn.convnext import ConvNeXt, convert_torchvision_convnext
from ...nn.convnext import convnext_tiny as _tiny
from ..registry import register_model

__all__ = ["convnext_tiny"]


def _official() -> str:
    import torchvision

    return torchvision.models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1.url


@register_model("convnext_tiny", official=_official, convert=convert_torchvision_convnext)
def convnext_tiny(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-T (keyword arguments of :class:`~segedu.nn.convnext.ConvNeXt`): dims
    ``(96, 192, 384, 768)``, depths ``(3, 3, 9, 3)``.

    28,589,128 parameters with the 1000-class top, as torchvision's ``convnext_tiny`` (checked
    in the tests).
    """
    return _tiny(**kwargs)
