"""DINO's ViT backbones, registered by name: ``dino_vits16``, ``dino_vitb16`` and ``dino_vit_tiny``.

Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
https://arxiv.org/abs/2104.14294; https://github.com/facebookresearch/dino (``hubconf.py``).

The backbone is :class:`segedu.nn.vit.VisionTransformer`; ``get_model("dino_vits16",
weights="official")`` loads DINO's published backbone (the teacher, without the projection head)
strictly, as DINO's ``torch.hub`` entry points do. ``forward_features(x)`` gives the final
normalised tokens ``(B, 1 + N, D)`` as timm's ``vit_small_patch16_224.dino``; ``forward(x)`` the
class token ``(B, D)``. Inputs are images normalised with the ImageNet mean and standard deviation
(:data:`segedu.data.IMAGENET_MEAN`, :data:`segedu.data.IMAGENET_STD`), of any size that is
a multiple of 16 (positional embeddings interpolated DINO's way).
"""

from __future__ import annotations

from typing import Any

from ....nn.vit import VisionTransformer
from ...registry import register_model

__all__ = ["dino_vits16", "dino_vitb16", "dino_vit_tiny", "DINO_VITS16_URL", "DINO_VITB16_URL"]

DINO_VITS16_URL = "https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth"
DINO_VITB16_URL = "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth"


def _vit(defaults: dict[str, Any], kwargs: dict[str, Any]) -> VisionTransformer:
    """A :class:`VisionTransformer` with ``defaults`` overridden by ``kwargs``."""
    return VisionTransformer(**{**defaults, **kwargs})


@register_model("dino_vits16", official=lambda: DINO_VITS16_URL)
def dino_vits16(**kwargs: Any) -> VisionTransformer:
    """ViT-S/16 (DeiT-small): patch 16, D = 384, 12 blocks, 6 heads, 224-pixel positional grid.

    21,665,664 parameters (checked in the tests, equal to timm's ``vit_small_patch16_224.dino``).
    """
    return _vit(dict(img_size=224, patch_size=16, embed_dim=384, depth=12, num_heads=6), kwargs)


@register_model("dino_vitb16", official=lambda: DINO_VITB16_URL)
def dino_vitb16(**kwargs: Any) -> VisionTransformer:
    """ViT-B/16: patch 16, D = 768, 12 blocks, 12 heads, 224-pixel positional grid.

    85,798,656 parameters (checked in the tests, equal to timm's ``vit_base_patch16_224.dino``).
    """
    return _vit(dict(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12), kwargs)


@register_model("dino_vit_tiny")
def dino_vit_tiny(**kwargs: Any) -> VisionTransformer:
    """A small ViT for segedu's zoo, to train with DINO on 64-128 px synthetic scenes on a CPU.

    Patch 8, D = 192, 4 blocks, 3 heads (64-dimensional, as ViT-Ti's), MLP 768, positional grid
    8 x 8 (``img_size=64``; 128-pixel images give a 16 x 16 grid by interpolation).
    1,829,568 parameters (checked in the tests). No official checkpoint: ``weights="zoo"``.
    """
    return _vit(dict(img_size=64, patch_size=8, embed_dim=192, depth=4, num_heads=3), kwargs)
