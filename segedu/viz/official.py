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
  photograph (Kirillov et al. 2023, "Segment Anything"; chapter 16);
- :func:`semantic_photographs`: a torchvision-trained semantic model (FCN, DeepLabv3; chapters 07
  and 09) on photographs, preprocessed as its weight enum says, and on a PASCAL VOC val image
  next to its ground truth when :func:`voc_val_example` finds VOC 2012 on disk;
- :func:`instances_photographs`: torchvision's Mask R-CNN (chapter 11) on the same images, its
  detections above a score threshold, and the VOC image's annotated objects beside them.

No installed library ships a VOC or COCO image by itself: torchvision's ``VOCSegmentation``
downloads the whole VOC 2012 archive (2 GB) and its COCO classes download nothing, so a VOC image
is shown only when VOC 2012 is already in segedu's cache (:func:`voc_val_example`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = [
    "dino_photographs", "sam_one_click", "semantic_photographs", "instances_photographs",
    "voc_val_example", "VocExample",
]


def _show(ax: Any, image: Any, title: str, **kwargs: Any) -> None:
    ax.imshow(np.asarray(image), **kwargs)  # a tensor as NumPy: matplotlib warns on tensors
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


class VocExample(NamedTuple):
    """One PASCAL VOC image with its annotations (:func:`voc_val_example`)."""

    title: str
    """e.g. ``"VOC 2012 val 2007_000033"``."""
    image: torch.Tensor
    """float32 ``(3, H, W)`` in [0, 1], at the original size."""
    labels: torch.Tensor
    """int64 ``(H, W)``: class 0..20 per pixel, 255 on the void border."""
    masks: torch.Tensor
    """bool ``(N, H, W)``: one mask per annotated object (void excluded)."""
    classes: tuple[str, ...]
    """the VOC class name of each object."""


def voc_val_example(index: int = 0, *, root: Any = None) -> VocExample | None:
    """A PASCAL VOC 2012 val image and its annotations when VOC 2012 is on disk, else ``None``.

    Reads through :class:`segedu.data.datasets.VOCSegmentation` (``root`` default
    ``$SEGEDU_CACHE/voc``), never downloads; see :class:`VocExample` for what it returns. An
    incomplete VOC folder or an unreadable file raise the dataset's own errors, an ``index`` past
    the split ``IndexError``.
    """
    from ..data.datasets import DatasetNotFoundError
    from ..data.datasets.voc import CLASSES, VOCSegmentation

    try:
        dataset = VOCSegmentation(root=root, year="2012", image_set="val")
    except DatasetNotFoundError as error:
        if "not found" in str(error):  # no VOC at all; an incomplete one is an error
            return None
        raise
    if not 0 <= index < len(dataset):
        raise IndexError(f"index {index} is outside VOC 2012 val ({len(dataset)} images)")
    image, target = dataset[index]
    empty = torch.zeros((0, *image.shape[1:]), dtype=torch.bool)
    masks = target.get("masks", empty).as_subclass(torch.Tensor).bool()
    classes = tuple(CLASSES[k] for k in target.get("labels", torch.zeros(0, dtype=int)).tolist())
    return VocExample(f"VOC 2012 val {dataset.samples[index][0].stem}",
                      image.as_subclass(torch.Tensor), target["semantic"].as_subclass(torch.Tensor),
                      masks, classes)


def semantic_photographs(model: nn.Module, weights: Any,
                         names: Sequence[str] = ("astronaut", "chelsea", "coffee"), *,
                         resize_size: int = 520,
                         voc: VocExample | None = None) -> Any:
    """A torchvision-trained semantic segmentation model on photographs, as a figure.

    Args:
        model: a model whose output is ``{"out": (B, C, H', W') scores}`` at the input's size, with
            the classes of ``weights`` (segedu's ``fcn_resnet50``, ``deeplabv3_resnet50`` with
            ``weights="official"``), in eval mode.
        weights: the torchvision weight enum member the model's weights come from, e.g.
            ``FCN_ResNet50_Weights.DEFAULT``: its ``transforms(resize_size=...)`` preprocess
            each photograph (shorter side to ``resize_size``, ImageNet mean and standard
            deviation) and its ``meta["categories"]`` name the classes.
        names: photographs of :func:`segedu.data.skimage_photograph`.
        resize_size: shorter side the photographs are resized to (torchvision's 520 for these
            weights).
        voc: a :class:`VocExample` (:func:`voc_val_example`): two more panels, the prediction
            and the ground truth, the prediction's title with its pixel accuracy over the
            non-void pixels.

    Returns:
        The figure: one panel per photograph, the predicted class map over the (resized)
        photograph, titled with the classes found other than background (index 0).
    """
    import matplotlib.pyplot as plt
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    from ..data import skimage_photograph
    from .overlays import overlay_semantic

    categories = list(weights.meta["categories"])
    preprocess = weights.transforms(resize_size=resize_size)
    images = [(name, skimage_photograph(name)) for name in _names(names)]
    if voc is not None:
        title, image, truth = voc.title, voc.image, voc.labels
        if image.ndim != 3 or image.shape[0] != 3 or tuple(truth.shape) != tuple(image.shape[1:]):
            raise ValueError(f"voc: expected image (3, H, W) and labels (H, W), got "
                             f"{tuple(image.shape)} and {tuple(truth.shape)}")
        images.append((title, image))
    fig, axes = plt.subplots(1, len(images) + (voc is not None),
                             figsize=(4.5 * (len(images) + (voc is not None)), 4), squeeze=False)
    for ax, (name, photo) in zip(axes[0], images, strict=False):
        with torch.no_grad():
            labels = model(preprocess(photo)[None])["out"].argmax(dim=1)[0]  # (H', W')
        found = [categories[k] for k in labels.unique().tolist() if k]
        shown = TF.resize(photo, list(labels.shape), antialias=True)
        ax.imshow(overlay_semantic(shown, labels, num_classes=len(categories), alpha=0.5))
        title = f"{name}: {', '.join(found) or 'background only'}"
        if voc is not None and name == voc.title:
            truth = TF.resize(voc.labels[None], list(labels.shape),
                              interpolation=InterpolationMode.NEAREST)[0]
            scored = truth != 255
            accuracy = (labels[scored] == truth[scored]).float().mean().item()
            title += f"\npixel accuracy {accuracy:.1%} (void excluded)"
            present = [categories[k] for k in truth.unique().tolist() if k not in (0, 255)]
            axes[0, -1].imshow(overlay_semantic(shown, truth, num_classes=len(categories),
                                                alpha=0.5))
            axes[0, -1].set_title(f"ground truth: {', '.join(present) or 'background only'}",
                                  fontsize=9)
            axes[0, -1].axis("off")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def instances_photographs(model: nn.Module, categories: Sequence[str],
                          names: Sequence[str] = ("astronaut", "chelsea", "coffee"), *,
                          threshold: float = 0.7, voc: VocExample | None = None) -> Any:
    """A torchvision-style Mask R-CNN on photographs: its confident detections, as a figure.

    Args:
        model: a detector in eval mode that takes a list of ``(3, H, W)`` images in [0, 1] and
            returns one dict per image with ``"masks"`` ``(K, 1, H, W)`` (soft, in [0, 1]),
            ``"labels"`` ``(K,)`` and ``"scores"`` ``(K,)`` (segedu's ``maskrcnn_resnet50_fpn``,
            as torchvision's).
        categories: the name of each label index (``MaskRCNN_ResNet50_FPN_Weights.DEFAULT
            .meta["categories"]``: COCO's, with ``"N/A"`` for the unused indices).
        names: photographs of :func:`segedu.data.skimage_photograph`.
        threshold: the detections shown have a score above it; their masks are cut at 0.5.
        voc: a :class:`VocExample`: two more panels, the detections on its image and its annotated
            objects (VOC's classes are 20 of COCO's 80).

    Returns:
        The figure: one panel per image, the kept masks over it, titled ``"name: cat 0.98, ..."``.
    """
    import matplotlib.pyplot as plt

    from ..data import skimage_photograph
    from .overlays import overlay_instances

    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    images = [(name, skimage_photograph(name)) for name in _names(names)]
    if voc is not None:
        images.append((voc.title, voc.image))
    columns = len(images) + (voc is not None)
    fig, axes = plt.subplots(1, columns, figsize=(4.5 * columns, 4), squeeze=False)
    for ax, (name, photo) in zip(axes[0], images, strict=False):
        with torch.no_grad():
            found = model([photo])[0]
        keep = found["scores"] > threshold
        masks = found["masks"][keep, 0] > 0.5  # (K, H, W)
        ax.imshow(overlay_instances(photo, masks))
        shown = [f"{categories[k]} {s:.2f}" for k, s in
                 zip(found["labels"][keep].tolist(), found["scores"][keep].tolist(), strict=True)]
        ax.set_title(f"{name}: {', '.join(shown) or f'no detection above {threshold}'}",
                     fontsize=8)
        ax.axis("off")
    if voc is not None:
        axes[0, -1].imshow(overlay_instances(voc.image, voc.masks))
        axes[0, -1].set_title(f"annotated: {', '.join(voc.classes) or 'no object'}", fontsize=8)
        axes[0, -1].axis("off")
    fig.tight_layout()
    return fig
