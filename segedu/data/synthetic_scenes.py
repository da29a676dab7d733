"""Synthetic scenes with exact semantic, instance and panoptic ground truth.

Each image is a little landscape: three *stuff* regions (sky above a wavy horizon, grass and water
below it, split by a wavy shoreline), each with its own texture, and a few *things* on top
(circles, rectangles and triangles of random colour, size and rotation). Things are painted one
after the other, so a later thing hides (occludes) the part of an earlier one that it covers; the
masks are the *visible* parts only, and a thing that keeps fewer than ``min_area`` visible pixels
is dropped as if it had never been drawn.

Class ids are indices into :data:`SCENE_CLASSES`; they are what the semantic map, the instance
``labels`` and the panoptic category channel hold::

    0 sky   1 grass   2 water   (stuff)        3 circle   4 rectangle   5 triangle   (things)

Every pixel has exactly one class, and the targets agree exactly: a pixel of instance ``i`` has
``semantic == labels[i]`` and ``panoptic == (labels[i], i + 1)``; a stuff pixel has
``panoptic == (semantic, 0)``.

Item ``index`` of a dataset with seed ``seed`` is drawn from its own random generator,
``SeedSequence([seed, index])``, so it is the same whatever the access order or the number of
DataLoader workers. The geometry (horizon, shoreline, things) is drawn in coordinates relative to
the image, before any pixel noise, so the same ``(seed, index)`` at another size shows the same
scene (up to which tiny slivers fall under ``min_area``).

Across machines: the labels of an item (semantic map, masks, panoptic map, boxes, labels) and its
layout are identical for a ``(seed, index)`` on every x86-64 CPU; the float image agrees within
1e-6 (numpy and PyTorch pick SIMD kernels by CPU, AVX2 or AVX-512, and their last bits
differ; one ULP of 1.0 is 1.2e-7). ``tests/data/test_synthetic_digest.py`` pins both, and
``tests/test_cross_dispatch.py`` reruns them under the AVX2 dispatch.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy import ndimage as ndi
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ._shapes import _paint, _rasterise, _shade_things
from ._synthetic import _fraction_range, _index, _nonneg_int, _size_pair, _target, _uniform
from .synthetic_noise import smooth_noise, white_noise

__all__ = ["SCENE_CLASSES", "SCENE_COLORS", "SCENE_STUFF", "SCENE_THINGS", "SceneObject",
           "SyntheticScenes"]

SCENE_CLASSES = ("sky", "grass", "water", "circle", "rectangle", "triangle")
SCENE_STUFF = (0, 1, 2)
SCENE_THINGS = (3, 4, 5)
# The colour key of figures (RGB in [0, 1]), one row per class: stuff in the colours it stands
# for, things in hues that no stuff class uses, so a label map reads at a glance.
SCENE_COLORS = (
    (0.53, 0.81, 0.98),  # sky: light blue
    (0.20, 0.63, 0.17),  # grass: green
    (0.12, 0.25, 0.60),  # water: navy
    (1.00, 0.50, 0.00),  # circle: orange
    (0.89, 0.10, 0.11),  # rectangle: red
    (1.00, 0.90, 0.10),  # triangle: yellow
)
SKY, GRASS, WATER, CIRCLE, RECTANGLE, TRIANGLE = range(6)


@dataclass(frozen=True, eq=False)
class SceneObject:
    """One thing as it was drawn, before occlusion (pixel coordinates, x to the right, y down).

    ``instance_id`` is its id in the target (1..N), or 0 when it was dropped because too little of
    it stayed visible. A circle has ``radius``; a rectangle or triangle has ``vertices`` ``(K, 2)``
    as ``(x, y)`` rows. A pixel belongs to the full shape when its centre ``(col + 0.5, row + 0.5)``
    lies inside (or on the edge of) the shape.
    """

    label: int
    center: tuple[float, float]
    radius: float
    vertices: np.ndarray | None
    color: tuple[float, float, float]
    instance_id: int


# --------------------------------------------------------------------------------------------
# sampling (the argument checks live in ._synthetic, shared with .synthetic_cells)


def _choice_cdf(probs: np.ndarray) -> np.ndarray:
    """The cumulative table that ``rng.choice(len(probs), p=probs)`` builds for each call."""
    cdf = probs.cumsum()
    cdf /= cdf[-1]
    return cdf


# --------------------------------------------------------------------------------------------
# the dataset


class SyntheticScenes(Dataset):
    """Landscapes of sky, grass and water with circles, rectangles and triangles on top.

    Args (keyword-only):
        size: image size, an int (square) or ``(H, W)``; at least 8 pixels per side.
        length: number of items.
        seed: base seed (>= 0); item ``i`` depends only on ``(seed, i)``.
        min_objects, max_objects: how many things are drawn (before dropping hidden ones).
        thing_probs: relative frequency of circle, rectangle, triangle; e.g. ``(0.7, 0.2, 0.1)``
            gives an imbalanced data set.
        object_size: range of a thing's radius as a fraction of the shorter image side.
        min_area: a thing with fewer visible pixels is dropped.
        transforms: ``(image, target) -> (image, target)``, applied last (e.g. ``transforms.v2``).

    Item ``(image, target)``:
        image: ``tv_tensors.Image`` float32 ``(3, H, W)`` in ``[0, 1]``.
        target: ``semantic`` ``(H, W)`` int64; ``masks`` ``(N, H, W)`` bool (visible parts);
        ``boxes`` ``(N, 4)`` tight XYXY boxes of the masks; ``labels`` ``(N,)`` int64 in 3..5;
        ``panoptic`` ``(2, H, W)`` int64, category id and instance id (1..N; 0 on stuff).
    """

    classes = SCENE_CLASSES
    stuff_classes = SCENE_STUFF
    thing_classes = SCENE_THINGS

    def __init__(
        self,
        *,
        size: int | tuple[int, int] = 128,
        length: int = 1000,
        seed: int = 0,
        min_objects: int = 2,
        max_objects: int = 8,
        thing_probs: Sequence[float] = (1 / 3, 1 / 3, 1 / 3),
        object_size: tuple[float, float] = (0.06, 0.2),
        min_area: int = 16,
        transforms: Callable[[Any, Any], tuple[Any, Any]] | None = None,
    ) -> None:
        self.size = _size_pair(size)
        self.length = _nonneg_int(length, "length")
        self.seed = _nonneg_int(seed, "seed")
        self.min_objects = _nonneg_int(min_objects, "min_objects")
        self.max_objects = _nonneg_int(max_objects, "max_objects")
        if self.max_objects < self.min_objects:
            raise ValueError(
                f"max_objects ({max_objects}) must be >= min_objects ({min_objects})"
            )
        try:
            probs = np.asarray(thing_probs, dtype=np.float64)
        except (TypeError, ValueError):
            probs = np.zeros(0)
        if (probs.shape != (3,) or not np.isfinite(probs).all() or (probs < 0).any()
            or probs.sum() <= 0):
            raise ValueError(
                "thing_probs must be 3 non-negative numbers (circle, rectangle, triangle) "
                f"with a positive sum, got {thing_probs!r}"
            )
        self.thing_probs = probs / probs.sum()
        self.object_size = _fraction_range(object_size, "object_size")
        self.min_area = _nonneg_int(min_area, "min_area")
        if self.min_area < 1:
            raise ValueError(f"min_area must be >= 1 pixel, got {min_area}")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable or None, got {type(transforms).__name__}")
        self.transforms = transforms

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        i = _index(index, self.length, type(self).__name__)
        scene = self._generate(i)
        h, w = self.size
        kept = [o for o in scene.objects if o.instance_id > 0]  # in instance-id order 1..N
        id_map = torch.from_numpy(scene.ids)  # (H, W), 0 on stuff
        # one bool mask per instance: (N, H, W)
        masks = id_map[None] == torch.arange(1, len(kept) + 1)[:, None, None]
        semantic = torch.from_numpy(scene.semantic)
        target = _target(
            (h, w),
            semantic=semantic,
            masks=masks,
            boxes=torch.from_numpy(scene.boxes),
            labels=torch.tensor([o.label for o in kept], dtype=torch.int64),
            panoptic=torch.stack([semantic, id_map]),
        )
        image = tv_tensors.Image(torch.from_numpy(scene.image))
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def layout(self, index: int) -> list[SceneObject]:
        """Every thing drawn for item ``index``, in painting order, dropped ones included."""
        return self._generate(_index(index, self.length, type(self).__name__)).objects

    # ----------------------------------------------------------------------------------------

    def _generate(self, index: int) -> _Scene:
        """Draw item ``index`` as numpy arrays (see :class:`_Scene`)."""
        h, w = self.size
        # two independent streams: geometry (size-independent) and pixel textures
        geometry_seq, texture_seq = np.random.SeedSequence([self.seed, index]).spawn(2)
        geo = np.random.default_rng(geometry_seq)
        tex = np.random.default_rng(texture_seq)

        # 1. stuff layout: horizon and shoreline, then the background semantic map
        stuff = _draw_stuff_layout(geo)
        stuff_semantic = _stuff_semantic(stuff, h, w)

        # 2. things, painted in order; those left with < min_area visible pixels are dropped
        drawn = _draw_things(geo, h, w, self.min_objects, self.max_objects, self.thing_probs,
                             self.object_size)
        shapes = [_rasterise(o, h, w) for o in drawn]
        order = list(range(len(drawn)))
        ids = _paint(shapes, order, h, w)
        visible = np.bincount(ids.ravel(), minlength=len(drawn) + 1)[1:]
        kept = [k for k in order if visible[k] >= self.min_area]
        if len(kept) < len(order):
            # repaint without the dropped ones, so that what they hid shows again
            ids = _paint(shapes, kept, h, w)
        new_id = {k: n for n, k in enumerate(kept, start=1)}
        objects = [_with_id(o, new_id.get(k, 0)) for k, o in enumerate(drawn)]

        # 3. semantic map: things over stuff
        lut = np.array([0] + [objects[k].label for k in kept], dtype=np.int64)
        semantic = np.where(ids > 0, lut[ids], stuff_semantic)

        # 4. image: stuff textures, shaded things, sensor noise
        image = _stuff_texture(tex, stuff_semantic, stuff)
        _draw_thing_colours(tex, image, ids, [(objects[k], shapes[k]) for k in kept])
        # grey sensor noise
        image += np.float32(tex.uniform(0.005, 0.02)) * white_noise(tex, (h, w))
        np.clip(image, 0.0, 1.0, out=image)

        # 5. tight boxes of the visible parts, from the bounding slices of each instance id
        boxes = np.array(
            [[c.start, r.start, c.stop, r.stop] for r, c in ndi.find_objects(ids)], dtype=np.float32
        ).reshape(-1, 4)
        return _Scene(image, semantic, ids, boxes, objects)


class _Scene(NamedTuple):
    """One generated item as numpy arrays."""

    image: np.ndarray  # (3, H, W) float32 in [0, 1]
    semantic: np.ndarray  # (H, W) int64 class ids
    ids: np.ndarray  # (H, W) int64 instance ids, 0 on stuff
    boxes: np.ndarray  # (N, 4) float32 XYXY boxes of instances 1..N
    objects: list[SceneObject]  # every thing drawn, dropped ones with instance_id 0


def _with_id(obj: SceneObject, instance_id: int) -> SceneObject:
    return SceneObject(obj.label, obj.center, obj.radius, obj.vertices, obj.color, instance_id)


# --------------------------------------------------------------------------------------------
# stuff: geometry


def _draw_wave(rng: np.random.Generator, max_amplitude: float) -> np.ndarray:
    """Three sine terms ``(amplitude, frequency, phase)`` of a smooth random curve."""
    amplitude = max_amplitude * rng.uniform(0.2, 1.0, 3) / np.arange(1, 4)
    frequency = rng.uniform(0.4, 2.5, 3) * np.arange(1, 4)
    phase = rng.uniform(0, 2 * np.pi, 3)
    return np.stack([amplitude, frequency, phase], axis=1)


def _wave(terms: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evaluate a wave at relative positions ``t`` in [0, 1]."""
    a, f, p = terms[:, 0], terms[:, 1], terms[:, 2]
    return np.sum(a[:, None] * np.sin(2 * np.pi * f[:, None] * t[None, :] + p[:, None]), axis=0)


def _draw_stuff_layout(rng: np.random.Generator) -> dict[str, Any]:
    """Horizon and shoreline, in coordinates relative to the image (0..1)."""
    horizon = rng.uniform(0.25, 0.45)
    return {
        "horizon": horizon,
        "horizon_wave": _draw_wave(rng, 0.035),
        # "side": shoreline runs top to bottom, water left or right of it;
        # "front": shoreline runs left to right, water in front of or behind the grass
        "mode": "side" if rng.random() < 0.5 else "front",
        "water_first": bool(rng.random() < 0.5),
        "side_shore": rng.uniform(0.3, 0.7),
        "front_shore": rng.uniform(horizon + 0.17, 0.85),
        "shore_wave": _draw_wave(rng, 0.06),
    }


def _stuff_semantic(stuff: dict[str, Any], h: int, w: int) -> np.ndarray:
    """Class id (sky, grass or water) of every pixel: ``(H, W)`` int64."""
    tx = (np.arange(w) + 0.5) / w  # relative pixel centres
    ty = (np.arange(h) + 0.5) / h
    horizon = stuff["horizon"] + _wave(stuff["horizon_wave"], tx)  # (W,)
    if stuff["mode"] == "side":
        # water where x is left of the shoreline x(y) (or right of it)
        shore = stuff["side_shore"] + _wave(stuff["shore_wave"], ty)  # (H,)
        first = tx[None, :] < shore[:, None]
    else:
        # water where y is above the shoreline y(x) (or below it)
        shore = stuff["front_shore"] + _wave(stuff["shore_wave"], tx)  # (W,)
        first = ty[:, None] < shore[None, :]
    water = first if stuff["water_first"] else ~first
    semantic = np.where(water, WATER, GRASS)
    semantic[ty[:, None] < horizon[None, :]] = SKY  # sky above the horizon, whatever is below
    return semantic.astype(np.int64)


# --------------------------------------------------------------------------------------------
# stuff: textures


def _jitter(rng: np.random.Generator, rgb: tuple[float, float, float]) -> np.ndarray:
    """A colour with random hue shift and brightness: ``(3,)`` float32."""
    colour = np.asarray(rgb, dtype=np.float32) + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    return colour * np.float32(rng.uniform(0.85, 1.12))


def _stuff_texture(rng: np.random.Generator, semantic: np.ndarray,
                   stuff: dict[str, Any]) -> np.ndarray:
    """Paint sky, grass and water textures: ``(3, H, W)`` float32 (things are drawn later).

    ``semantic`` is the stuff map ``(H, W)`` of class ids 0..2, before the things. Each class has
    a base colour per image row, and two scalar fields per pixel: a ``gain`` that multiplies the
    colour and an ``offset`` added to it (clouds, glints). Working with scalar ``(H, W)`` fields
    and a single colour lookup at the end keeps the cost low.
    """
    h, w = semantic.shape
    short = min(h, w)
    ty = (np.arange(h, dtype=np.float32) + 0.5) / h  # relative row centres (H,)
    sky, grass = semantic == SKY, semantic == GRASS

    # base colour of each class for each row: (3 channels, 3 classes, H)
    t = np.clip(ty / np.float32(stuff["horizon"] + 0.05), 0, 1)
    table = np.empty((3, 3, h), dtype=np.float32)
    table[:, SKY] = (np.outer(_jitter(rng, (0.28, 0.50, 0.86)), 1 - t)
                     + np.outer(_jitter(rng, (0.68, 0.80, 0.94)), t))
    table[:, GRASS] = _jitter(rng, (0.26, 0.52, 0.16))[:, None]
    # deeper = darker
    table[:, WATER] = np.outer(_jitter(rng, (0.12, 0.36, 0.60)), 1 - 0.25 * (ty - 0.5))

    # sky: stretched clouds, blended towards white
    clouds = smooth_noise(rng, (h, w), (0.06 * h, 0.2 * w))
    cover = np.clip((clouds - np.float32(rng.uniform(0.2, 1.6))) * 1.5, 0, 0.85)

    # grass: patches of lighter and darker green, and short vertical blades
    patches = smooth_noise(rng, (h, w), 0.08 * short)
    blades = white_noise(rng, (h + 3, w))
    blades = (blades[:-3] + blades[1:-2] + blades[2:-1] + blades[3:]) / 2  # streaks along y

    # water: horizontal ripples whose phase wanders across the surface
    period = np.float32(rng.uniform(0.02, 0.04) * h)
    wander = 2.0 * smooth_noise(rng, (h, w), 0.1 * short)
    ripples = np.sin(np.float32(2 * np.pi) * np.arange(h, dtype=np.float32)[:, None] / period
                     + wander)

    # each pixel takes the gain and offset of its class, and the colour of its class and row
    gain = np.where(sky, 1 - cover,
                    np.where(grass, 1 + 0.18 * patches + 0.12 * blades, 1 + 0.1 * ripples))
    glints = np.where(ripples > 0.97, np.float32(0.12), np.float32(0))  # on the ripple crests
    offset = np.where(sky, 0.96 * cover, np.where(grass, np.float32(0), glints))
    # (3, H, W)
    colour = np.take(table.reshape(3, 3 * h), semantic * h + np.arange(h)[:, None], axis=1)
    colour *= gain
    colour += offset
    return colour


# --------------------------------------------------------------------------------------------
# things


def _draw_things(
    rng: np.random.Generator,
    h: int,
    w: int,
    min_objects: int,
    max_objects: int,
    thing_probs: np.ndarray,
    object_size: tuple[float, float],
) -> list[SceneObject]:
    """Random circles, rectangles and triangles, in painting order (not yet occluded)."""
    count = int(rng.integers(min_objects, max_objects + 1))
    things = []
    # rng.choice(3, p=thing_probs) draws one rng.random() and looks it up in this table
    cdf = _choice_cdf(thing_probs)
    short = min(h, w)
    for _ in range(count):
        label = SCENE_THINGS[int(cdf.searchsorted(rng.random(), side="right"))]
        # position and size relative to the image, so the scene does not depend on its size
        cx, cy = _uniform(rng, 0.05, 0.95) * w, _uniform(rng, 0.05, 0.95) * h
        r = _uniform(rng, *object_size) * short
        angle = _uniform(rng, 0, 2 * np.pi)
        rgb = colorsys.hsv_to_rgb(_uniform(rng, 0, 1), _uniform(rng, 0.45, 1.0),
                                  _uniform(rng, 0.45, 1.0))
        vertices = None
        if label == RECTANGLE:
            # half sides a, b; corners rotated by `angle` about the centre
            a, b = r * _uniform(rng, 0.55, 1.0), r * _uniform(rng, 0.35, 0.9)
            corners = np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            vertices = corners @ rot.T + [cx, cy]
        elif label == TRIANGLE:
            # three corners at jittered angles 120 degrees apart: never degenerate
            theta = angle + np.arange(3) * 2 * np.pi / 3 + _uniform(rng, -0.35, 0.35, 3)
            radius = 1.15 * r * _uniform(rng, 0.85, 1.0, 3)
            vertices = np.stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)], axis=1)
        things.append(SceneObject(label, (float(cx), float(cy)), float(r), vertices, rgb, 0))
    return things


def _draw_thing_colours(
    rng: np.random.Generator,
    image: np.ndarray,
    ids: np.ndarray,
    things: list[tuple[SceneObject, tuple[slice, slice, np.ndarray]]],
) -> None:
    """Paint each visible thing in its colour, lit from one random side of the image (in place).

    ``image`` is ``(3, H, W)``; ``things`` lists ``(object, shape window)`` for instance ids
    1, 2, ... of ``ids`` ``(H, W)``.
    """
    light = rng.uniform(0, 2 * np.pi)
    _shade_things(image, ids, [(i, obj, shape) for i, (obj, shape) in enumerate(things, start=1)],
                  light)
