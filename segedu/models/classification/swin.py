"""Swin-T, registered as ``swin_t``: :class:`segedu.nn.swin.SwinTransformer` (Liu et al.,
ICCV 2021).

``get_model("swin_t", weights="official")`` loads torchvision's ImageNet checkpoint
(``Swin_T_Weights.IMAGENET1K_V1``, 81.474% top-1 on ImageNet-1k by torchvision's count),
renamed by :func:`~segedu.nn.swin.convert_torchvision_swin`; ``weights=<file>`` reads a state dict
in segedu's names or in torchvision's.
"""

from __future__ import annotations

from typing import Any

from ...nn.swin import SwinTransformer, convert_torchvision_swin
from ...nn.swin import swin_t as _swin_t
from ..registry import register_model

__all__ = ["swin_t"]


def _official() -> str:
    import torchvision

    return torchvision.models.Swin_T_Weights.IMAGENET1K_V1.url


@register_model("swin_t", official=_official, convert=convert_torchvision_swin)
def swin_t(**kwargs: Any) -> SwinTransformer:
    """Swin-T (keyword arguments of :class:`~segedu.nn.swin.SwinTransformer`): ``C = 96``,
    depths ``(2, 2, 6, 2)``, heads ``(3, 6, 12, 24)``, window 7.

    28,288,354 parameters with the 1000-class top, as torchvision's ``swin_t`` (checked in the
    tests).
    """
    return _swin_t(**kwargs)
