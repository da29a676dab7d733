"""Figures: a grid of images, and one sample with every part of its target.

Both return a ``matplotlib.figure.Figure`` (made with ``pyplot``, so a notebook shows it);
save it with ``fig.savefig("name.png")`` and release it with ``plt.close(fig)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .boxes import draw_boxes
from .image import to_numpy_image, to_numpy_labels
from .overlays import (
    masks_from_labels,
    overlay_instances,
    overlay_panoptic,
    overlay_semantic,
    split_panoptic,
)
from .palette import instance_colors, palette

__all__ = ["show_grid", "show_sample"]


def show_grid(
    images: Sequence[Any],
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    size: float = 3.0,
) -> Figure:
    """Images side by side, ``ncols`` per row, each panel ``size`` inches wide.

    ``images``: anything :func:`~segedu.viz.to_numpy_image` takes (tensors ``(C, H, W)``, arrays
    ``(H, W, 3)``, overlays). ``titles``: one per image.
    """
    if len(images) == 0:
        raise ValueError("images is empty: nothing to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles has {len(titles)} entries for {len(images)} images")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    # 1. the layout: as many rows as needed, no wider than the number of images
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    arrays = [to_numpy_image(image) for image in images]
    height, width = arrays[0].shape[:2]
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows * height / width), squeeze=False
    )
    # 2. one image per panel, axes hidden; panels beyond the last image stay empty
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(arrays):
            ax.imshow(arrays[k])
            if titles is not None:
                ax.set_title(titles[k], fontsize=9)
    fig.tight_layout()
    return fig


def _legend(ax: Any, classes: np.ndarray, colors: np.ndarray, names: Sequence[str] | None) -> None:
    """A colour key below the panel for the classes present."""
    handles = [
        Patch(color=colors[c], label=names[c] if names is not None else str(c)) for c in classes
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(3, len(handles)) or 1,
        fontsize=7,
        frameon=False,
    )


def show_sample(
    image: Any,
    target: Mapping[str, Any],
    *,
    class_names: Sequence[str] | None = None,
    things: Sequence[int] | None = None,
) -> Figure:
    """One sample in panels: image | semantic | instances + boxes | panoptic.

    A panel appears only when its key is in ``target`` (``semantic``; ``masks`` or
    ``instances`` and/or ``boxes``, captioned with ``labels`` and ``class_names``; ``panoptic``).
    ``things``: the thing categories of the panoptic map (default: the categories that have a
    non-zero instance id somewhere).
    """
    rgb = to_numpy_image(image)
    num_classes = len(class_names) if class_names is not None else None
    panels: list[tuple[str, np.ndarray]] = [("image", rgb)]
    # 1. semantic: classes coloured, ignore pixels left as they are
    if "semantic" in target:
        semantic = to_numpy_labels(target["semantic"], name="target['semantic']")
        panels.append(("semantic", overlay_semantic(rgb, semantic, num_classes=num_classes)))
    # 2. instances: one colour per mask; the boxes get the colour of their mask
    masks = None
    if "masks" in target:
        masks = to_numpy_labels(target["masks"], name="target['masks']", ndim=3).astype(bool)
    elif "instances" in target:
        masks, _ = masks_from_labels(
            to_numpy_labels(target["instances"], name="target['instances']")
        )
    if masks is not None or "boxes" in target:
        n = max(len(masks) if masks is not None else 0, len(target.get("boxes", ())))
        colors = instance_colors(n)
        shown = overlay_instances(rgb, masks, colors=colors) if masks is not None else rgb
        panels.append(("instances", shown))
    # 3. panoptic: stuff by class, each thing instance in a shade of its class colour
    if "panoptic" in target:
        panoptic = to_numpy_labels(target["panoptic"], name="target['panoptic']", ndim=3)
        if things is None:
            category, instance = split_panoptic(panoptic)
            things = np.unique(category[instance != 0]).tolist()
        panels.append(("panoptic", overlay_panoptic(rgb, panoptic, things=things)))

    fig = show_grid([p for _, p in panels], titles=[t for t, _ in panels], ncols=len(panels))
    axes = fig.axes
    # 4. boxes with captions on the instance panel, a class key under the semantic panel
    titles = [t for t, _ in panels]
    if "instances" in titles and "boxes" in target:
        draw_boxes(
            axes[titles.index("instances")],
            target["boxes"],
            labels=target.get("labels"),
            class_names=class_names,
            colors=colors,
        )
    if "semantic" in titles:
        present = np.unique(semantic)
        present = present[(present != 255) & (present >= 0)]
        colors_by_class = palette(max(num_classes or 0, int(present.max(initial=-1)) + 1))
        _legend(axes[titles.index("semantic")], present, colors_by_class, class_names)
        # make room for the key below the panels
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + 0.6)
        fig.tight_layout()
    return fig
