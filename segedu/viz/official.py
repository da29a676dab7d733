"""Figures of the official (published) models on scikit-image's photographs, for the chapters.

The chapters call these in their online cells (``segedu.config.online()``, or the checkpoint
already in segedu's cache), after ``get_model(name, weights="official")``; the tests call the same
functions with random weights saved under the official file name, so the code a reader sees run
is the code that is tested. Each function takes the model, never downloads anything itself, and
returns the matplotlib figure (not shown: the notebook's ``plt.show()`` shows it).

- :func:`dino_photographs`: DINO's patch tokens on photographs: PCA as RGB, *k*-means per image,
  and a co-segmentation of all of them together (Amir et al. 2021, "Deep ViT Features as Dense
  Visual Descriptors"; chapter 03);
- :func:`sam_one_click`: SAM's three masks and predicted IoUs for one foreground click on a
  photograph (Kirillov et al. 2023, "Segment Anything"; chapter 16).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["dino_photographs", "sam_one_click"]


def _show(ax: Any, image: Any, title: str, **kwargs: Any) -> None:
    ax.imshow(image, **kwargs)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _names(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str) or not names:
        raise ValueError(f"names must be a non-empty sequence of photograph names, got {names!r}")
    return tuple(names)


def dino_photographs(model: nn.Module, names: Sequence[str] = ("coffee", "chelsea", "astronaut"),
                     *, size: int = 224, k: int = 4, cosegments: int = 5, seed: int = 0) -> Any:
    """A DINO ViT's patch tokens on scikit-image photographs, as a ``4 x len(names)`` figure.

    Args:
        model: a :class:`~segedu.nn.vit.VisionTransformer` in eval mode, e.g.
            ``get_model("dino_vits16", weights="official")``.
        names: photographs of :func:`segedu.data.skimage_photograph` (``"coffee"``, ...).
        size: side the photographs are resized to (anti-aliased), a multiple of the patch size:
            224 gives DINO ViT-S/16 a 14 x 14 grid of patches.
        k: clusters of the per-image *k*-means of the tokens.
        cosegments: clusters of the co-segmentation (one *k*-means over the patches of all the
            photographs, :func:`~segedu.models.foundation.dino.cosegment`).
        seed: seed of both *k*-means.

    Returns:
        The figure: per photograph (columns), the resized photograph, the PCA of all tokens as
        RGB (:func:`~segedu.models.foundation.dino.pca_rgb`, one PCA for all photographs), the
        *k*-means and the co-segmentation, both upsampled to ``size x size``.
    """
    import matplotlib.pyplot as plt

    from ..data import skimage_photograph
    from ..models.foundation.dino import cosegment, feature_kmeans, patch_features, pca_rgb

    names = _names(names)
    images = torch.stack([skimage_photograph(name, size=size) for name in names])  # (N, 3, S, S)
    with torch.no_grad():
        feats = patch_features(model, images)  # (N, S / p, S / p, D)
    rgb = pca_rgb(feats)
    joint = cosegment(feats, cosegments, sizes=(size, size), seed=seed)
    fig, axes = plt.subplots(4, len(names), figsize=(3 * len(names), 12), squeeze=False)
    labels = {"cmap": "tab10", "vmin": 0, "vmax": 9, "interpolation": "nearest"}
    for j, name in enumerate(names):
        _show(axes[0, j], images[j].permute(1, 2, 0), f"{name}, {size} x {size}")
        _show(axes[1, j], rgb[j], "PCA of the patch tokens", interpolation="nearest")
        _show(axes[2, j], feature_kmeans(feats[j], k, size=(size, size), seed=seed),
              f"k-means, k = {k}", **labels)
        _show(axes[3, j], joint[j], f"co-segmentation, k = {cosegments}", **labels)
    fig.tight_layout()
    return fig


def sam_one_click(model: nn.Module, name: str = "astronaut",
                  click: tuple[int, int] = (300, 330)) -> Any:
    """SAM's answer to one foreground click on a scikit-image photograph, as a 1 x 3 figure.

    Args:
        model: a :class:`~segedu.models.foundation.sam.Sam` in eval mode, e.g.
            ``get_model("sam_vit_b", weights="official")``.
        name: a photograph of :func:`segedu.data.skimage_photograph` (``"astronaut"``: 512 x 512).
        click: ``(x, y)`` of the click in the photograph's pixels.

    Returns:
        The figure: the three masks SAM proposes for the ambiguous click (multimask output), each
        over the photograph with the click as a star, titled with SAM's predicted IoU.
    """
    import matplotlib.pyplot as plt

    from ..data import skimage_photograph
    from ..models.foundation.sam import SamPredictor
    from .overlays import overlay_instances

    photo = skimage_photograph(name)
    if photo.shape[0] != 3:
        raise ValueError(f"SAM takes a colour photograph; {name!r} is grey")
    height, width = photo.shape[1:]
    x, y = click
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"click {click} lies outside the {width} x {height} photograph {name!r}")
    rgb = (photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # as skimage.data has it
    predictor = SamPredictor(model)
    predictor.set_image(rgb)
    masks, scores, _ = predictor.predict(point_coords=np.array([[x, y]]),
                                         point_labels=np.array([1]))
    fig, axes = plt.subplots(1, len(masks), figsize=(11, 3.8), squeeze=False)
    for ax, mask, score in zip(axes[0], masks, scores, strict=True):
        ax.imshow(overlay_instances(rgb, mask[None], alpha=0.5))
        ax.plot(x, y, "w*", ms=12, mec="k")
        ax.set_title(f"predicted IoU {score:.2f}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
