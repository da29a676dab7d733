"""The data of the zoo's SAM: its targets, its training prompts and the held-out scenes.

A scene's *segments* (:func:`scene_segments`) are what a prompt may ask for; training draws a
point or a noisy box for some of them (:func:`sample_prompts`) and then a correction click in the
error region (:func:`correction_points`); scoring clicks each segment's most interior pixel
(:func:`interior_point`) on the held-out scenes (:func:`held_out_segments`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi

from ...data import SyntheticScenes
from ...data.synthetic_scenes import SCENE_STUFF
from ...ops import masks_to_boxes
from ..scores import SIZE, TEST_SCENES

__all__ = ["scene_segments", "sample_prompts", "correction_points", "interior_point",
           "held_out_segments", "scene", "TRAIN_SCENES", "EVAL_SCENES", "MIN_STUFF_AREA",
           "BOX_NOISE", "BOX_NOISE_MAX"]

TRAIN_SCENES, EVAL_SCENES = 8000, 200
MIN_STUFF_AREA = 32  # stuff regions smaller than this (slivers between things) are not targets
BOX_NOISE, BOX_NOISE_MAX = 0.1, 20.0 * SIZE / 1024  # std 10 % of the side, at most 20 px at 1024 px


def _plain(x):
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x


def scene_segments(target: dict[str, Any], *, min_area: int = MIN_STUFF_AREA) -> torch.Tensor:
    """A scene's target -> its segments ``(M, H, W)`` bool: each connected region of a stuff
    class with at least ``min_area`` pixels (sky, grass, water in that order, regions in
    scipy's labelling order), then every thing instance (its visible mask)."""
    semantic = _plain(target["semantic"])
    if semantic.ndim != 2:
        raise ValueError(f"target['semantic'] must be (H, W), got {tuple(semantic.shape)}")
    segments = []
    for k in SCENE_STUFF:
        regions, count = ndi.label((semantic == k).numpy())  # 4-connected components
        for r in range(1, count + 1):
            region = torch.from_numpy(regions == r)
            if int(region.sum()) >= min_area:
                segments.append(region)
    segments += [m for m in _plain(target["masks"]).bool() if m.any()]
    if not segments:
        return torch.zeros((0, *semantic.shape), dtype=torch.bool)
    return torch.stack(segments)


def _uniform_pixel(mask: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A pixel ``(x, y)`` drawn uniformly among the True pixels of ``mask`` ``(H, W)``."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    i = int(rng.integers(len(xs)))
    return torch.stack([xs[i], ys[i]]).float()


def sample_prompts(segments: torch.Tensor, count: int, rng: np.random.Generator, *,
                   p_point: float = 0.5) -> dict[str, torch.Tensor]:
    """First-round prompts for ``count`` segments of one image (drawn without replacement, or all
    of them when there are fewer).

    Args:
        segments: ``(M, H, W)`` bool, ``M >= 1``.
        count: prompts wanted; rng: numpy generator (all randomness comes from it).
        p_point: probability that a segment is prompted by a point rather than a box.

    Returns ``index`` ``(P,)`` (which segment), ``is_point`` ``(P,)`` bool, ``points`` ``(P, 2)``
    ``(x, y)`` (a uniform pixel of the mask; unused for boxes) and ``boxes`` ``(P, 4)`` ``xyxy``
    (the noisy box, clipped to the image; unused for points), in pixel indices.
    """
    if segments.ndim != 3 or segments.shape[0] == 0:
        raise ValueError(f"segments must be (M, H, W) with M >= 1, got {tuple(segments.shape)}")
    h, w = segments.shape[-2:]
    index = torch.from_numpy(rng.permutation(segments.shape[0])[:count]).long()
    is_point = torch.from_numpy(rng.random(len(index)) < p_point)
    points, boxes = [], []
    for i in index.tolist():
        points.append(_uniform_pixel(segments[i], rng))
        box = masks_to_boxes(segments[i][None])[0]  # (x0, y0, x1, y1), inclusive
        side = torch.stack([box[2] - box[0], box[3] - box[1]]).repeat(2) + 1  # (w, h, w, h)
        noise = torch.from_numpy(rng.standard_normal(4)).float() * BOX_NOISE * side
        box = box + noise.clamp(-BOX_NOISE_MAX, BOX_NOISE_MAX)
        boxes.append(box.clamp(min=0).minimum(torch.tensor([w - 1, h - 1, w - 1, h - 1],
                                                           dtype=torch.float)))
    return {"index": index, "is_point": is_point, "points": torch.stack(points),
            "boxes": torch.stack(boxes)}


def correction_points(predicted: torch.Tensor, truth: torch.Tensor,
                      rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One correction click per prediction: a pixel drawn uniformly in the error region.

    ``predicted``, ``truth``: ``(P, H, W)`` bool. Returns points ``(P, 2)`` ``(x, y)`` and labels
    ``(P,)``: 1 (foreground) where the drawn pixel is a false negative, 0 (background) where it is
    a false positive. A perfect prediction has no error: its click is then a foreground pixel of
    the truth, drawn uniformly (a harmless, consistent extra click).
    """
    if predicted.shape != truth.shape or predicted.ndim != 3:
        raise ValueError(f"predicted and truth must be the same (P, H, W), "
                         f"got {tuple(predicted.shape)} "
                         f"and {tuple(truth.shape)}")
    points, labels = [], []
    for p, t in zip(predicted, truth, strict=True):
        error = p ^ t
        pixel = _uniform_pixel(error if error.any() else t, rng)
        points.append(pixel)
        labels.append(int(t[int(pixel[1]), int(pixel[0])]))
    return torch.stack(points), torch.tensor(labels, dtype=torch.float)


def interior_point(mask: torch.Tensor) -> torch.Tensor:
    """The most interior pixel ``(x, y)`` of ``mask`` ``(H, W)``: the maximum of the Euclidean
    distance to the nearest pixel outside it, the image border counting as outside (the first
    such pixel in row-major order on ties)."""
    if mask.ndim != 2 or not mask.any():
        raise ValueError(f"mask must be a non-empty (H, W) mask, got shape {tuple(mask.shape)}")
    distance = ndi.distance_transform_edt(np.pad(mask.numpy(), 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return torch.tensor([x, y], dtype=torch.float)


def scene(scenes: SyntheticScenes, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scene ``index``: image ``(3, S, S)`` in [0, 1] and its segments ``(M, S, S)``."""
    image, target = scenes[index]
    return _plain(image), scene_segments(target)


def held_out_segments(length: int = EVAL_SCENES) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The first ``length`` held-out scenes (seed 1): images ``(3, S, S)`` and segments
    ``(M, S, S)``."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    scenes = SyntheticScenes(size=SIZE, length=length, seed=1)
    images, segments = zip(*(scene(scenes, i) for i in range(length)), strict=True)
    return list(images), list(segments)
