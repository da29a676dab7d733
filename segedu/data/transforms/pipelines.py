"""Ready-made training and evaluation pipelines for the common sample format.

Both are ``transforms.v2.Compose`` pipelines called as ``image, target = t(image, target)``.
They output images of exactly ``size`` (so that a batch can be stacked), tight boxes, and no
empty instance. Fill of the pixels that a rotation brings in from outside the image: image 0,
``semantic`` ``ignore_index`` (255), every other mask 0 (see :mod:`segedu.data.transforms.fill`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torchvision import tv_tensors
from torchvision.transforms import v2

from .boxes import BoxesFromMasks, SanitizeBoxes
from .elastic import ElasticDeformation
from .fill import IgnoreOutside
from .validate import ValidateSample

__all__ = ["train_transforms", "eval_transforms"]


def _check_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` -> ``(H, W)``; an int means a square."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise ValueError(f"size must be a positive int or a pair (H, W) of them, got {size!r}")
    return pair


def train_transforms(
    *,
    size: int | Sequence[int],
    scale: tuple[float, float] = (0.5, 1.0),
    hflip: float = 0.5,
    rotate: float = 10.0,
    color_jitter: tuple[float, float, float, float] | None = (0.2, 0.2, 0.2, 0.02),
    elastic: bool | ElasticDeformation = False,
    ignore_index: int = 255,
) -> v2.Compose:
    """Augmentation for training.

    Args:
        size: output ``(H, W)``, or an int for a square.
        scale: range of the area fraction of the random crop (before it is resized to ``size``).
        hflip: probability of a horizontal flip (0 disables it).
        rotate: rotation angle drawn uniformly from ``[-rotate, rotate]`` degrees (0 disables it).
        color_jitter: ``(brightness, contrast, saturation, hue)`` of ``v2.ColorJitter``, applied
            to the image only; ``None`` disables it.
        elastic: ``True`` adds ``ElasticDeformation()`` with the U-Net defaults; pass an
            :class:`ElasticDeformation` to choose ``grid``, ``sigma`` and ``p``.
        ignore_index: ``semantic`` label of the pixels brought in from outside the image.
    """
    out_size = _check_size(size)
    low, high = scale
    if not 0 < low <= high <= 1:
        raise ValueError(f"scale must satisfy 0 < scale[0] <= scale[1] <= 1, got {scale!r}")
    if not 0 <= hflip <= 1:
        raise ValueError(f"hflip must be a probability in [0, 1], got {hflip!r}")
    if not 0 <= rotate <= 180:
        raise ValueError(f"rotate must be an angle in [0, 180] degrees, got {rotate!r}")
    if color_jitter is not None and (
        len(color_jitter) != 4 or min(color_jitter) < 0 or color_jitter[3] > 0.5
    ):
        raise ValueError(
            "color_jitter must be None or (brightness, contrast, saturation, hue) with all "
            f">= 0 and hue <= 0.5, got {color_jitter!r}"
        )
    if not isinstance(elastic, bool | ElasticDeformation):
        raise TypeError(
            f"elastic must be a bool or an ElasticDeformation, got {type(elastic).__name__}"
        )

    # 1. geometry: the same random crop / flip / rotation / deformation for image and masks
    geometry: list[v2.Transform] = [v2.RandomResizedCrop(out_size, scale=scale, antialias=True)]
    if hflip > 0:
        geometry.append(v2.RandomHorizontalFlip(p=hflip))
    if rotate > 0:
        geometry.append(
            v2.RandomRotation(
                degrees=rotate,
                interpolation=v2.InterpolationMode.BILINEAR,  # masks always use nearest
                fill={tv_tensors.Image: 0.0, tv_tensors.Mask: 0},
            )
        )
    if elastic is True:
        geometry.append(ElasticDeformation())
    elif isinstance(elastic, ElasticDeformation):
        geometry.append(elastic)

    steps: list[v2.Transform] = [
        # 0. refuse a malformed sample before anything moves
        ValidateSample(),
        # 1. pixels from outside the image: semantic gets ignore_index, the other masks 0
        IgnoreOutside(transform=v2.Compose(geometry), ignore_index=ignore_index),
    ]
    # 2. photometric: the image only (v2 passes masks and boxes through ColorJitter)
    if color_jitter is not None:
        brightness, contrast, saturation, hue = color_jitter
        steps.append(
            v2.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)
        )
    # 3. repair the target: tight boxes, no empty instance, no degenerate box
    steps += [BoxesFromMasks(), SanitizeBoxes()]
    return v2.Compose(steps)


def eval_transforms(*, size: int | Sequence[int]) -> v2.Compose:
    """Deterministic pipeline for evaluation: resize to ``size`` (``(H, W)``, or an int for a
    square), then tight boxes from the resized masks."""
    out_size = _check_size(size)
    return v2.Compose(
        [
            ValidateSample(),
            v2.Resize(out_size, antialias=True),
            BoxesFromMasks(),
            SanitizeBoxes(),
        ]
    )
