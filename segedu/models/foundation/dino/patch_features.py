"""Dense DINO features: one ``D``-dimensional descriptor per image patch, ``(B, h, w, D)``.

Caron et al., ICCV 2021 show that the patch tokens of a self-supervised ViT carry semantic parts
and object boundaries; Amir et al., "Deep ViT Features as Dense Visual Descriptors" (ECCVW 2022,
https://arxiv.org/abs/2112.05814) found the *keys* of the last attention layer the best facet for
co-segmentation and part co-segmentation, and cluster them with k-means
(:mod:`.feature_segmentation`). Both facets are here:

- ``facet="token"``: the final normalised patch tokens, ``forward_features(x)[:, 1:]``;
- ``facet="key"`` (also ``"query"``, ``"value"``): the last block's keys, computed from the
  LayerNorm-ed input of the last block, all heads concatenated (``D = heads x head_dim``), as the
  ``ViTExtractor`` of Amir et al. does.

The class token is dropped and the tokens are put back on the patch grid, row-major, as the ViT
read them.
"""

from __future__ import annotations

import torch

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....nn.vit import VisionTransformer

__all__ = ["patch_features", "FACETS"]

FACETS = ("token", "key", "query", "value")


@torch.no_grad()
def patch_features(
    model: VisionTransformer, images: torch.Tensor, *, facet: str = "token", normalize: bool = True
) -> torch.Tensor:
    """Patch descriptors ``(B, h, w, D)`` of images ``(B, 3, H, W)``, ``h = H / p``, ``w = W / p``.

    Args:
        model: a :class:`~segedu.nn.vit.VisionTransformer` (e.g. ``get_model("dino_vits16")``).
        images: float images in [0, 1] (or already normalised, with ``normalize=False``);
            height and width multiples of the patch size.
        facet: ``"token"`` (final patch tokens) or ``"key"``/``"query"``/``"value"`` of the
            last attention.
        normalize: first normalise with the ImageNet mean and standard deviation, as DINO
            was trained.
    """
    if facet not in FACETS:
        raise ValueError(f"facet must be one of {FACETS}, got {facet!r}")
    h, w = model.patch_grid(images)  # also checks the shape, dtype and size
    if normalize:
        mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        images = (images - mean) / std
    b = images.shape[0]
    if facet == "token":
        # final normalised tokens without the class token: (B, N, D)
        tokens = model.forward_features(images)[:, 1:]
    else:
        # the last block's q, k or v: (B, heads, 1 + N, d) -> drop the class token ->
        # (B, N, heads d)
        q, k, v = model.get_last_qkv(images)
        chosen = {"query": q, "key": k, "value": v}[facet][:, :, 1:]
        tokens = chosen.permute(0, 2, 1, 3).reshape(b, h * w, -1)
    # back onto the patch grid, row-major: (B, h, w, D)
    return tokens.reshape(b, h, w, -1)
