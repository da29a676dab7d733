"""Label maps painted over their image.

Every overlay blends a colour into the labelled pixels and leaves all other pixels exactly as in
the image::

    out = (1 - alpha) * image + alpha * colour    where a pixel carries a label
    out = image                                   elsewhere (no label, ignore, void)

The results are numpy ``(H, W, 3)`` float images in ``[0, 1]``, ready for ``plt.imshow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import ndimage

from .image import to_numpy_image, to_numpy_labels
from .palette import check_colors, instance_colors, palette, shades

__all__ = [
    "overlay_semantic",
    "overlay_instances",
    "overlay_panoptic",
    "masks_from_labels",
    "split_panoptic",
]


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")


def _check_same_size(rgb: np.ndarray, labels: np.ndarray, name: str) -> None:
    if labels.shape[-2:] != rgb.shape[:2]:
        raise ValueError(
            f"{name} covers (H, W) = {labels.shape[-2:]} but the image is {rgb.shape[:2]}"
        )


def _blend(rgb: np.ndarray, where: np.ndarray, colors: np.ndarray, alpha: float) -> np.ndarray:
    """Copy of ``rgb`` with the pixels ``where`` (H, W) blended with ``colors`` (#where, 3)."""
    out = rgb.copy()
    out[where] = (1.0 - alpha) * rgb[where] + alpha * colors
    return out


def overlay_semantic(
    image: Any,
    semantic: Any,
    *,
    num_classes: int | None = None,
    colors: Any = None,
    alpha: float = 0.5,
    ignore_index: int | None = 255,
) -> np.ndarray:
    """Class map ``semantic`` ``(H, W)`` over ``image`` -> ``(H, W, 3)``.

    Every class (0 included) gets its colour, ``colors[c]`` (default :func:`palette` with
    ``num_classes`` colours, or as many as the largest label needs); ``ignore_index`` pixels keep
    the image's values exactly.
    """
    _check_alpha(alpha)
    rgb = to_numpy_image(image)
    labels = to_numpy_labels(semantic, name="semantic").astype(np.int64)
    _check_same_size(rgb, labels, "semantic")
    # 1. which pixels carry a class
    labelled = labels != ignore_index if ignore_index is not None else np.ones(labels.shape, bool)
    if labelled.any() and labels[labelled].min() < 0:
        raise ValueError(f"semantic holds the negative label {labels[labelled].min()}")
    largest = int(labels[labelled].max()) if labelled.any() else -1
    # 2. one colour per class
    if colors is None:
        colors = palette(max(num_classes or 0, largest + 1))
    colors = check_colors(colors, largest + 1)
    if num_classes is not None and largest >= num_classes:
        raise ValueError(f"semantic holds class {largest} but num_classes is {num_classes}")
    # 3. blend each labelled pixel with the colour of its class
    return _blend(rgb, labelled, colors[labels[labelled]], alpha)


def masks_from_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Instance label image ``(H, W)`` (0 = background) -> bool masks ``(N, H, W)`` and
    ids ``(N,)``."""
    ids = np.unique(labels)
    ids = ids[ids != 0]
    return labels[None] == ids[:, None, None], ids


def _inner_edge(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the image border does not count)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=1)


def overlay_instances(
    image: Any, masks: Any, *, colors: Any = None, alpha: float = 0.5, contours: bool = True
) -> np.ndarray:
    """Instance masks over ``image`` -> ``(H, W, 3)``.

    ``masks``: bool ``(N, H, W)``, or an instance label image ``(H, W)`` (0 = background, one
    mask per other value). Mask ``i`` gets ``colors[i]`` (default :func:`instance_colors`).
    Where masks overlap, the later one is on top. With ``contours``, the inner edge of each
    visible mask (pixels with a 4-neighbour outside it) is painted in its colour, opaque, so that
    touching instances stay apart. Pixels outside every mask keep the image's values exactly.
    """
    _check_alpha(alpha)
    rgb = to_numpy_image(image)
    # 1. bool masks (N, H, W)
    array = to_numpy_labels(masks, name="masks", ndim=None)
    if array.ndim == 2 and array.dtype != np.bool_:
        array, _ = masks_from_labels(array)
    if array.ndim != 3:
        raise ValueError(f"masks must be bool (N, H, W) or a label image (H, W), got {array.shape}")
    array = array.astype(bool)
    _check_same_size(rgb, array, "masks")
    n = len(array)
    colors = instance_colors(n) if colors is None else check_colors(colors, n)
    # 2. owner of each pixel: the last mask that covers it (-1: none)
    owner = np.full(rgb.shape[:2], -1)
    for i, mask in enumerate(array):
        owner[mask] = i
    covered = owner >= 0
    out = _blend(rgb, covered, colors[owner[covered]], alpha)
    # 3. opaque contours, each on the part of its mask that is visible
    if contours:
        for i in range(n):
            edge = _inner_edge(owner == i)
            out[edge] = colors[i]
    return out


def split_panoptic(panoptic: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(2, H, W)`` (segedu's layout, tried first) or ``(H, W, 2)`` -> category, instance maps."""
    array = to_numpy_labels(panoptic, name="panoptic", ndim=3).astype(np.int64)
    if array.shape[0] == 2:
        return array[0], array[1]
    if array.shape[2] == 2:
        return array[..., 0], array[..., 1]
    raise ValueError(f"panoptic must have shape (2, H, W) or (H, W, 2), got {array.shape}")


def overlay_panoptic(
    image: Any,
    panoptic: Any,
    *,
    things: Iterable[int],
    colors: Any = None,
    alpha: float = 0.5,
    void: int | None = 255,
) -> np.ndarray:
    """Panoptic map (category id, instance id) over ``image`` -> ``(H, W, 3)``.

    ``panoptic`` is ``(2, H, W)`` or ``(H, W, 2)``. Stuff categories (not in ``things``) are
    coloured by class (``colors[c]``, default :func:`palette`); each instance of a thing category
    gets its own :func:`shade <segedu.viz.shades>` of its class colour (same hue, other lightness),
    so instances of one class are told apart and still read as that class. Pixels of category
    ``void`` (255 by default: segedu's fill for "no label", the same value as the semantic
    ``ignore_index``; COCO panoptic files use 0) keep the image's values exactly.
    """
    _check_alpha(alpha)
    rgb = to_numpy_image(image)
    category, instance = split_panoptic(panoptic)
    _check_same_size(rgb, category, "panoptic")
    if category.min(initial=0) < 0:
        raise ValueError(f"panoptic holds the negative category {category.min()}")
    things = {int(t) for t in things}
    # 1. stuff and things: the class colour per pixel
    colored = category != void if void is not None else np.ones(category.shape, bool)
    largest = int(category[colored].max(initial=0))
    class_colors = check_colors(palette(largest + 1) if colors is None else colors, largest + 1)
    pixel_colors = np.zeros(category.shape + (3,))
    pixel_colors[colored] = class_colors[category[colored]]
    # 2. things: replace it by a shade per instance (instance id 0 keeps the class colour)
    for cls in things & set(np.unique(category[colored]).tolist()):
        ids = np.unique(instance[category == cls])
        ids = ids[ids != 0]
        for shade, inst in zip(shades(class_colors[cls], len(ids)), ids, strict=True):
            pixel_colors[(category == cls) & (instance == inst)] = shade
    # 3. blend, leaving void pixels alone
    return _blend(rgb, colored, pixel_colors[colored], alpha)
