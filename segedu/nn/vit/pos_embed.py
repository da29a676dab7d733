r"""Positional embeddings for any image size: bicubic interpolation on the patch grid.

A ViT learns one positional embedding per patch of its training size (``14 x 14`` for 224-pixel
images and 16-pixel patches) plus one for the class token. For another image size the patch part
is viewed as an image ``(D, 14, 14)``, resized bicubically to the new grid ``(h, w)``, and
flattened again; the class token's embedding is kept as it is.

Three conventions exist, and they give different numbers (by up to ~0.5 on unit-variance random
embeddings enlarged from 14 x 14 to 20 x 24):

- ``mode="dino"`` (the default, DINO's ``VisionTransformer.interpolate_pos_encoding``,
  https://github.com/facebookresearch/dino/blob/main/vision_transformer.py): ``F.interpolate`` with
  ``scale_factor = ((h + 0.1) / 14, (w + 0.1) / 14)``, plain bicubic (``a = -0.75``,
  ``align_corners=False``). The ``+ 0.1`` makes sure that ``floor(14 * scale)`` is ``h`` despite
  rounding (facebookresearch/dino issue #8, https://github.com/facebookresearch/dino/issues/8,
  which DINO's code cites); PyTorch then maps output pixel ``i`` to input coordinate
  ``(i + 0.5) / scale - 0.5``, so the grid is stretched by ``h / (h + 0.1)``, not exactly
  ``h / 14``. DINO interpolates only when the grid differs from the training grid (or the image is
  not square). We follow DINO by default because the ``dino_*`` models carry DINO's weights, and
  DINO's own features and attention maps at other sizes (its figures, its DAVIS video segmentation)
  come from this code.
- ``mode="timm"`` (timm's ``resample_abs_pos_embed``, used by ``VisionTransformer`` with
  ``dynamic_img_size=True``): ``F.interpolate`` to ``size=(h, w)`` with ``antialias=True``, which in
  PyTorch selects the separable anti-aliased kernel with PIL's bicubic (``a = -0.5``), even when
  enlarging. timm also casts to float32 for the interpolation (we keep the input's dtype).
- ``mode="transformers"`` (transformers' ``Dinov2Embeddings.interpolate_pos_encoding``, used by
  :mod:`segedu.models.foundation.dinov2`, and ``CLIPSegVisionEmbeddings``', used by
  :mod:`segedu.models.foundation.clipseg`): ``F.interpolate`` to ``size=(h, w)``, plain bicubic
  (``a = -0.75``), no anti-aliasing and no ``+ 0.1``. transformers' DINOv2 *with registers*
  interpolates as ``"timm"`` does (``antialias=True``). Both cast to float32 first, which their
  callers do; ``CLIPSegVisionEmbeddings`` interpolates in the embeddings' own dtype.

Each is tested: ``"dino"`` against a transcription of DINO's function, ``"timm"`` against timm's,
``"transformers"`` (and ``"timm"`` again) against transformers' DINOv2 models
(``tests/models/foundation/dinov2``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["interpolate_pos_embed", "POS_EMBED_MODES"]

POS_EMBED_MODES = ("dino", "timm", "transformers")


def interpolate_pos_embed(
    pos_embed: torch.Tensor,
    grid_size: tuple[int, int],
    *,
    old_grid_size: tuple[int, int] | None = None,
    mode: str = "dino",
) -> torch.Tensor:
    """Positional embeddings ``(1, 1 + N0, D)`` for a new patch grid: ``(1, 1 + h w, D)``.

    Args:
        pos_embed: class token's embedding followed by the ``N0`` patch embeddings (row-major).
        grid_size: the new patch grid ``(h, w)``.
        old_grid_size: the grid of ``pos_embed``; ``None`` means square, ``sqrt(N0)`` per side.
        mode: ``"dino"``, ``"timm"`` or ``"transformers"`` (see the module docstring).
    """
    if mode not in POS_EMBED_MODES:
        raise ValueError(f"mode must be one of {POS_EMBED_MODES}, got {mode!r}")
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must have shape (1, 1 + N, D), got {tuple(pos_embed.shape)}")
    n0, dim = pos_embed.shape[1] - 1, pos_embed.shape[2]
    if old_grid_size is None:
        side = math.isqrt(n0)
        if side * side != n0:
            raise ValueError(f"{n0} patch embeddings are not a square grid; give old_grid_size")
        old_grid_size = (side, side)
    gh, gw = old_grid_size
    if gh * gw != n0:
        raise ValueError(f"old_grid_size {old_grid_size} does not hold the {n0} patch embeddings")
    h, w = grid_size
    if h < 1 or w < 1:
        raise ValueError(f"grid_size must be positive, got {grid_size}")
    # nothing to do on the training grid
    if (h, w) == (gh, gw):
        return pos_embed
    # 1. split: the class token's embedding is kept; the patch embeddings become an image
    #    (1, D, gh, gw)
    cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    grid = patch_pos.reshape(1, gh, gw, dim).permute(0, 3, 1, 2)
    # 2. bicubic resize of that image to (1, D, h, w)
    if mode == "dino":
        grid = F.interpolate(grid, scale_factor=((h + 0.1) / gh, (w + 0.1) / gw), mode="bicubic",
                             align_corners=False)
    else:  # "timm" (anti-aliased) or "transformers" (plain): resized to exactly (h, w)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False,
                             antialias=mode == "timm")
    if grid.shape[-2:] != (h, w):  # cannot happen with the + 0.1, checked as DINO does
        raise RuntimeError(f"interpolation gave a {tuple(grid.shape[-2:])} grid instead of "
                           f"{(h, w)}")
    # 3. back to a sequence (1, h w, D), class token's embedding first
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim)
    return torch.cat([cls_pos, patch_pos], dim=1)
