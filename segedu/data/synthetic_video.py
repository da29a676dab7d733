"""Synthetic video clips: the scenes' things move, turn, hide each other and leave the frame, with
exact masks and ids per frame.

A clip is a static camera over one landscape of :class:`.SyntheticScenes` (sky, grass, water).
Its things start where the scene with the same ``(seed, index)`` draws them, in the scene's
painting order, which becomes a fixed **depth order**: a thing painted later is nearer to the
camera and hides what it covers. Then, frame by frame, each thing

- **moves** with its own speed along a heading (pixels per frame, relative to the image side),
- **turns**: its heading changes by a constant angle per frame, so its path is an arc,
- **spins** about its centre by a constant angle per frame (visible on rectangles and triangles),

and may **leave the frame** (and come back, if its arc turns it around). Per frame, the target
holds the visible part of each thing, exactly as the scenes do: a thing with fewer than
``min_area`` visible pixels in a frame (out of view, or hidden behind nearer things) is absent
from that frame, and what it covered shows again.

Ids are stable over the clip: instance id ``n`` (1..N) is the same thing in every frame, the
``n``-th in depth order among the things that are visible in at least one frame; 0 is the
background. Class ids are those of :data:`.SCENE_CLASSES` (things 3..5), as in the scenes.
Frame 0 shows the things of ``SyntheticScenes(seed=seed, ...)[index]`` (same ``size``,
``thing_probs``, ``object_size``, ``min_area``, object counts) at their places: the same visible
masks, numbered by the clip's ids.

Item ``index`` with seed ``seed`` depends only on ``(seed, index)``: the scene's two streams
(geometry and textures) and two of the clip's own, motion and per-frame sensor noise, all spawned
from ``SeedSequence([seed, index])``.

Across machines: the labels of a clip (instance maps, masks, semantic maps, labels) and its
layout are identical for a ``(seed, index)`` on every x86-64 CPU (the motion is scalar double
arithmetic and element-wise numpy, the masks exact tests of pixel centres against the shapes);
the float frames agree within 1e-6 (numpy and PyTorch pick SIMD kernels by CPU, AVX2 or AVX-512,
and their last bits differ). ``tests/data/test_synthetic_digest.py`` pins both, and
``tests/test_cross_dispatch.py`` reruns them under the AVX2 dispatch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ._shapes import _paint, _rasterise, _shade_things
from ._synthetic import _fraction_range, _index, _nonneg_int, _target, _uniform
from .synthetic_noise import white_noise
from .synthetic_scenes import SCENE_CLASSES, SCENE_STUFF, SCENE_THINGS, SceneObject, SyntheticScenes

__all__ = ["SyntheticVideos"]


class SyntheticVideos(Dataset):
    """Clips of moving circles, rectangles and triangles over a still landscape.

    Args (keyword-only):
        size: frame size, an int (square) or ``(H, W)``; at least 8 pixels per side.
        frames: number of frames ``T`` per clip (>= 1).
        length: number of clips.
        seed: base seed (>= 0); clip ``i`` depends only on ``(seed, i)``.
        min_objects, max_objects, thing_probs, object_size: the things of frame 0, as in
            :class:`.SyntheticScenes`.
        speed: range of a thing's speed, as a fraction of the shorter image side per frame.
        max_turn: a thing's heading turns by a constant angle in ``[-max_turn, max_turn]``
            radians per frame.
        max_spin: a thing rotates about its centre by a constant angle in
            ``[-max_spin, max_spin]`` radians per frame.
        min_area: a thing with fewer visible pixels in a frame is absent from that frame.
        transforms: ``(video, target) -> (video, target)``, applied last (``transforms.v2``
            moves a ``tv_tensors.Video`` and its masks together).

    Item ``(video, target)``:
        video: ``tv_tensors.Video`` float32 ``(T, 3, H, W)`` in ``[0, 1]``.
        target: ``instances`` ``(T, H, W)`` int64, the instance id of every pixel (0 background,
        1..N things, stable over the clip); ``masks`` ``(T, N, H, W)`` bool, ``masks[t, n - 1]``
        the visible part of thing ``n`` in frame ``t`` (empty where it is absent);
        ``labels`` ``(N,)`` int64 class ids in 3..5; ``semantic`` ``(T, H, W)`` int64 class ids
        (stuff below, things on top).
    """

    classes = SCENE_CLASSES
    stuff_classes = SCENE_STUFF
    thing_classes = SCENE_THINGS

    def __init__(
        self,
        *,
        size: int | tuple[int, int] = 128,
        frames: int = 8,
        length: int = 1000,
        seed: int = 0,
        min_objects: int = 1,
        max_objects: int = 4,
        thing_probs: Sequence[float] = (1 / 3, 1 / 3, 1 / 3),
        object_size: tuple[float, float] = (0.08, 0.2),
        speed: tuple[float, float] = (0.02, 0.06),
        max_turn: float = 0.2,
        max_spin: float = 0.15,
        min_area: int = 16,
        transforms: Callable[[Any, Any], tuple[Any, Any]] | None = None,
    ) -> None:
        # frame 0's things, and the background without them, come from the scene generator,
        # which checks size, length, seed, object counts, thing_probs, object_size and min_area
        self._scenes = SyntheticScenes(
            size=size, length=length, seed=seed, min_objects=min_objects,
            max_objects=max_objects, thing_probs=thing_probs, object_size=object_size,
            min_area=min_area,
        )
        self._backgrounds = SyntheticScenes(size=size, length=length, seed=seed, min_objects=0,
                                            max_objects=0)
        self.size = self._scenes.size
        self.length = self._scenes.length
        self.seed = self._scenes.seed
        self.min_area = self._scenes.min_area
        self.frames = _nonneg_int(frames, "frames")
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        self.speed = _fraction_range(speed, "speed")
        self.max_turn = _angle(max_turn, "max_turn")
        self.max_spin = _angle(max_spin, "max_spin")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable or None, got {type(transforms).__name__}")
        self.transforms = transforms

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        clip = self._generate(_index(index, self.length, type(self).__name__))
        h, w = self.size
        instances = torch.from_numpy(clip.instances)  # (T, H, W)
        count = len(clip.labels)
        # one bool mask per thing and frame: (T, N, H, W)
        masks = instances[:, None] == torch.arange(1, count + 1)[None, :, None, None]
        target = _target(
            (h, w),
            semantic=torch.from_numpy(clip.semantic),
            masks=masks,
            labels=torch.from_numpy(clip.labels),
            instances=instances,
        )
        video = tv_tensors.Video(torch.from_numpy(clip.video))
        if self.transforms is not None:
            video, target = self.transforms(video, target)
        return video, target

    def layout(self, index: int) -> list[list[SceneObject]]:
        """Every thing of clip ``index`` in every frame: ``T`` lists in depth order (farthest
        first), each thing where it is in that frame (moved and spun), with ``instance_id`` its
        id in the clip, or 0 where it is absent from that frame."""
        return self._generate(_index(index, self.length, type(self).__name__)).layout

    # ----------------------------------------------------------------------------------------

    def _generate(self, index: int) -> _Clip:
        """Draw clip ``index`` as numpy arrays (see :class:`_Clip`)."""
        h, w = self.size
        short = min(h, w)
        # the scene uses children 0 and 1 of this sequence; the clip draws from 2 and 3
        motion_seq, noise_seq = np.random.SeedSequence([self.seed, index]).spawn(4)[2:]
        motion = np.random.default_rng(motion_seq)
        noise = np.random.default_rng(noise_seq)

        # 1. frame 0: the scene's things (every one drawn, in painting = depth order) and its
        # landscape without them
        start = self._scenes.layout(index)
        background, background_target = self._backgrounds[index]
        background = background.as_subclass(torch.Tensor).numpy()
        stuff = background_target["semantic"].as_subclass(torch.Tensor).numpy()

        # 2. each thing's motion: speed (pixels per frame), heading, turn and spin per frame
        tracks = []
        for obj in start:
            tracks.append(_track(obj, self.frames,
                                 speed=_uniform(motion, *self.speed) * short,
                                 heading=_uniform(motion, 0, 2 * np.pi),
                                 turn=_uniform(motion, -self.max_turn, self.max_turn),
                                 spin=_uniform(motion, -self.max_spin, self.max_spin)))
        light = _uniform(motion, 0, 2 * np.pi)

        # 3. per frame: rasterise every thing where it is, paint far to near, drop the things
        # with fewer than min_area visible pixels (repainting without them); ids are depth
        # positions + 1 for now
        depth_ids, shapes = [], []
        for t in range(self.frames):
            frame_shapes = [_rasterise(track[t], h, w) for track in tracks]
            order = list(range(len(tracks)))
            ids = _paint(frame_shapes, order, h, w)
            visible = np.bincount(ids.ravel(), minlength=len(order) + 1)[1:]
            kept = [k for k in order if visible[k] >= self.min_area]
            if len(kept) < len(order):
                ids = _paint(frame_shapes, kept, h, w)
            # _paint numbers the kept things 1, 2, ...; map them back to depth position + 1
            ids = np.array([0] + [k + 1 for k in kept], dtype=np.int64)[ids]
            depth_ids.append(ids)
            shapes.append(frame_shapes)
        depth_ids = np.stack(depth_ids)  # (T, H, W)

        # 4. stable ids: the things seen in at least one frame, numbered 1..N in depth order
        seen = np.bincount(depth_ids.ravel(), minlength=len(tracks) + 1)[1:] > 0
        clip_id = np.cumsum(seen) * seen  # depth position -> clip id (0: never seen)
        lut = np.concatenate([[0], clip_id]).astype(np.int64)
        instances = lut[depth_ids]
        labels = np.array([o.label for o, s in zip(start, seen, strict=True) if s],
                          dtype=np.int64)

        # 5. semantic maps: things over the landscape's stuff
        label_of = np.concatenate([[0], labels]).astype(np.int64)
        semantic = np.where(instances > 0, label_of[instances], stuff[None])

        # 6. frames: the landscape, the shaded things, and each frame's own grey sensor noise
        video = np.empty((self.frames, 3, h, w), dtype=np.float32)
        for t in range(self.frames):
            frame = background.copy()
            _shade_things(frame, instances[t],
                          [(int(clip_id[k]), tracks[k][t], shapes[t][k])
                           for k in range(len(tracks)) if seen[k]], light)
            frame += np.float32(noise.uniform(0.003, 0.01)) * white_noise(noise, (h, w))
            np.clip(frame, 0.0, 1.0, out=frame)
            video[t] = frame

        # the layout: every thing in every frame, with its id where it is visible
        present = [set(np.unique(instances[t]).tolist()) for t in range(self.frames)]
        layout = [[_with_id(tracks[k][t], int(clip_id[k]) if clip_id[k] in present[t] else 0)
                   for k in range(len(tracks))] for t in range(self.frames)]
        return _Clip(video, instances, semantic, labels, layout)


class _Clip(NamedTuple):
    """One generated clip as numpy arrays."""

    video: np.ndarray  # (T, 3, H, W) float32 in [0, 1]
    instances: np.ndarray  # (T, H, W) int64 clip ids, 0 background
    semantic: np.ndarray  # (T, H, W) int64 class ids
    labels: np.ndarray  # (N,) int64 class ids of clip ids 1..N
    layout: list[list[SceneObject]]  # (T lists of) every thing, in depth order


def _angle(value: Any, name: str) -> float:
    """A non-negative finite angle in radians."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number (radians per frame), got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite angle >= 0 (radians per frame), got {value!r}")
    return float(value)


def _with_id(obj: SceneObject, instance_id: int) -> SceneObject:
    return SceneObject(obj.label, obj.center, obj.radius, obj.vertices, obj.color, instance_id)


def _track(obj: SceneObject, frames: int, *, speed: float, heading: float, turn: float,
           spin: float) -> list[SceneObject]:
    """The thing ``obj`` in frames ``0..frames-1``: its centre steps ``speed`` pixels along the
    heading, which turns by ``turn`` per frame; its corners rotate by ``spin`` per frame.

    Scalar doubles and element-wise numpy only (no matrix product, whose kernels round by CPU).
    """
    cx, cy = obj.center
    track = []
    for t in range(frames):
        vertices = None
        if obj.vertices is not None:
            # rotate the corners about the starting centre by t * spin, then move them along
            c, s = math.cos(t * spin), math.sin(t * spin)
            dx = obj.vertices[:, 0] - obj.center[0]
            dy = obj.vertices[:, 1] - obj.center[1]
            vertices = np.stack([cx + (dx * c - dy * s), cy + (dx * s + dy * c)], axis=1)
        track.append(SceneObject(obj.label, (cx, cy), obj.radius, vertices, obj.color, 0))
        # one step along the heading, then the heading turns
        cx += speed * math.cos(heading)
        cy += speed * math.sin(heading)
        heading += turn
    return track
