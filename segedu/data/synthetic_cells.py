"""Synthetic fluorescence microscopy: nuclei with exact instance labels, many of them touching.

A nucleus is a *star-convex* blob: seen from its centre, its edge lies at distance ::

    r(theta) = R * (1 + a2 cos(2 theta + p2) + a3 cos(3 theta + p3) + a4 cos(4 theta + p4))

with a random base radius ``R`` and small random low-frequency harmonics (``a2`` makes it oval,
``a3``, ``a4`` dent it). Star-convex shapes are what StarDist predicts, and touching nuclei are
what makes instance segmentation of cells hard, so a good share of the nuclei are placed against
an earlier one, overlapping it a little; each pixel of an overlap goes to the nucleus whose edge it
is relatively farthest from (the smaller ``distance / r(theta)``), which cuts the overlap with a
smooth boundary and leaves two touching nuclei. Then the image is made the way a microscope makes
it: per-nucleus brightness and chromatin texture, blur by the optics (Gaussian point spread
function), uneven illumination, shot noise and read noise.

Item ``index`` depends only on ``(seed, index)``; the layout is drawn in coordinates relative to
the image, so the same item at another size shows the same nuclei.

Across machines: the labels of an item (semantic map, masks, instance map, boxes, labels) and its
layout are identical for a ``(seed, index)`` on every x86-64 CPU; the float image agrees within
1e-6 (numpy and PyTorch pick SIMD kernels by CPU, AVX2 or AVX-512, and their last bits
differ; one ULP of 1.0 is 1.2e-7). ``tests/data/test_synthetic_digest.py`` pins both, and
``tests/test_cross_dispatch.py`` reruns them under the AVX2 dispatch.

:func:`touching_pairs` lists the pairs of labels that touch (4-neighbourhood), and
``SyntheticCells.nuclei(index)`` the nuclei as they were placed (centre, radius, harmonics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.measure import label as label_regions
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ._synthetic import _fraction_range, _index, _nonneg_int, _size_pair, _target, _uniform
from .synthetic_noise import smooth_noise, white_noise

__all__ = ["SyntheticCells", "Nucleus", "touching_pairs", "add_noise"]

_AMPLITUDES = np.array([0.22, 0.08, 0.05])  # largest amplitude of the harmonics k = 2, 3, 4


@dataclass(frozen=True, eq=False)
class Nucleus:
    """A star-convex nucleus in pixel coordinates (x right, y down).

    ``harmonics`` is ``(K, 3)``: rows ``(k, amplitude, phase)`` of ``r(theta)``.
    """

    center: tuple[float, float]
    radius: float
    harmonics: np.ndarray

    def radius_at(self, theta: np.ndarray | float) -> np.ndarray | float:
        """Distance from the centre to the edge in direction ``theta`` (radians, any shape)."""
        if np.ndim(theta) == 0:
            # one direction: plain Python is many times faster than numpy on 3 numbers
            t = float(theta)
            return self.radius * (1 + sum(a * math.cos(k * t + p)
                                          for k, a, p in self.harmonics.tolist()))
        # many directions: one harmonic at a time, in the precision of theta
        wobble = np.zeros(np.shape(theta), dtype=np.result_type(theta, np.float32))
        for k, a, p in self.harmonics.tolist():
            wobble += a * np.cos(k * theta + p)
        return self.radius * (1 + wobble)

    @property
    def max_radius(self) -> float:
        return self.radius * (1 + float(np.abs(self.harmonics[:, 1]).sum()))

    def window(self, h: int, w: int) -> tuple[slice, slice]:
        """The rows and columns of an ``(h, w)`` image that the nucleus may cover (maybe empty)."""
        cx, cy = self.center
        reach = self.max_radius
        return (slice(max(0, math.floor(cy - reach)), min(h, math.ceil(cy + reach) + 1)),
                slice(max(0, math.floor(cx - reach)), min(w, math.ceil(cx + reach) + 1)))

    def normalised_distance(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """``|p - centre| / r(theta)`` ``(len(ys), len(xs))`` at the pixel centres ``xs`` (columns)
        and ``ys`` (rows): 0 at the centre, 1 on the edge."""
        dx = (xs - self.center[0])[None, :]
        dy = (ys - self.center[1])[:, None]
        return np.hypot(dx, dy) / self.radius_at(np.arctan2(dy, dx))


def touching_pairs(instances: Any) -> np.ndarray:
    """Pairs of instance labels that touch: ``(P, 2)`` int64 rows ``(a, b)`` with ``0 < a < b``.

    ``instances`` is an ``(H, W)`` label image (0 is background). Two labels touch when some
    pixel of one is the left/right or top/bottom neighbour of a pixel of the other.
    """
    lab = (instances.as_subclass(torch.Tensor).numpy() if isinstance(instances, torch.Tensor)
           else np.asarray(instances))
    if lab.ndim != 2:
        raise ValueError(f"instances must be an (H, W) label image, got shape {lab.shape}")
    # every horizontal and vertical pair of neighbouring pixels
    a = np.concatenate([lab[:, :-1].ravel(), lab[:-1, :].ravel()])
    b = np.concatenate([lab[:, 1:].ravel(), lab[1:, :].ravel()])
    touch = (a > 0) & (b > 0) & (a != b)
    pairs = np.stack([np.minimum(a[touch], b[touch]), np.maximum(a[touch], b[touch])], axis=1)
    return np.unique(pairs.astype(np.int64), axis=0).reshape(-1, 2)


class SyntheticCells(Dataset):
    """Fluorescence-like images of nuclei, with exact instance labels.

    Args (keyword-only):
        size: image size, an int (square) or ``(H, W)``; at least 8 pixels per side.
        length: number of items.
        seed: base seed (>= 0); item ``i`` depends only on ``(seed, i)``.
        min_cells, max_cells: how many nuclei are placed (a few may not fit, or be cut to
            fewer than ``min_area`` pixels by the border, and are left out).
        radius: range of the base radius ``R`` as a fraction of the shorter image side.
        cluster_prob: probability that a nucleus is placed against an earlier one (so that they
            touch) rather than anywhere.
        min_area: a nucleus with fewer pixels is left out.
        channels: 1 (grey) or 3 (the grey channel repeated, for RGB models).
        noise: standard deviation of extra Gaussian noise added to every pixel (0: none), in the
            image's units: DenoiSeg's noisy data sets add noise of standard deviation 10 and 20
            to 8-bit images (Buchholz et al. 2020, DSB n10 and n20), i.e. ``10 / 255`` and
            ``20 / 255`` here. The noise has a random stream of its own, so the item with
            ``noise=0`` is the same image before the noise; the noisy image is not clipped
            (zero-mean noise, as Noise2Void assumes) and may leave ``[0, 1]``.
        transforms: ``(image, target) -> (image, target)``, applied last.

    Item ``(image, target)``:
        image: ``tv_tensors.Image`` float32 ``(channels, H, W)`` in ``[0, 1]`` (without
        ``noise``).
        target: ``instances`` ``(H, W)`` int64 (0 background, nuclei 1..N); ``masks``
        ``(N, H, W)`` bool; ``boxes`` ``(N, 4)`` XYXY; ``labels`` ``(N,)`` int64, all 1;
        ``semantic`` ``(H, W)`` int64, 0 background, 1 nucleus.
    """

    classes = ("background", "nucleus")
    stuff_classes = (0,)
    thing_classes = (1,)

    def __init__(
        self,
        *,
        size: int | tuple[int, int] = 128,
        length: int = 1000,
        seed: int = 0,
        min_cells: int = 10,
        max_cells: int = 40,
        radius: tuple[float, float] = (0.035, 0.07),
        cluster_prob: float = 0.6,
        min_area: int = 8,
        channels: int = 1,
        noise: float = 0.0,
        transforms: Callable[[Any, Any], tuple[Any, Any]] | None = None,
    ) -> None:
        self.size = _size_pair(size)
        self.length = _nonneg_int(length, "length")
        self.seed = _nonneg_int(seed, "seed")
        self.min_cells = _nonneg_int(min_cells, "min_cells")
        self.max_cells = _nonneg_int(max_cells, "max_cells")
        if self.max_cells < self.min_cells:
            raise ValueError(f"max_cells ({max_cells}) must be >= min_cells ({min_cells})")
        self.radius = _fraction_range(radius, "radius")
        if not 0 <= cluster_prob <= 1:
            raise ValueError(f"cluster_prob must lie in [0, 1], got {cluster_prob!r}")
        self.cluster_prob = float(cluster_prob)
        self.min_area = _nonneg_int(min_area, "min_area")
        if self.min_area < 1:
            raise ValueError(f"min_area must be >= 1 pixel, got {min_area}")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.channels = channels
        self.noise = _noise_level(noise)
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable or None, got {type(transforms).__name__}")
        self.transforms = transforms

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        i = _index(index, self.length, type(self).__name__)
        image, labels, boxes = self._generate(i)
        n = len(boxes)
        instances = torch.from_numpy(labels)  # (H, W)
        target = _target(
            self.size,
            instances=instances,
            masks=_masks(instances, n),
            boxes=torch.from_numpy(boxes),
            labels=torch.ones(n, dtype=torch.int64),
            semantic=(instances > 0).long(),
        )
        img = torch.from_numpy(image)[None].repeat(self.channels, 1, 1)  # (C, H, W)
        img = tv_tensors.Image(img)
        if self.transforms is not None:
            img, target = self.transforms(img, target)
        return img, target

    def nuclei(self, index: int) -> list[Nucleus]:
        """The nuclei placed for item ``index`` (before cutting overlaps and dropping tiny ones)."""
        i = _index(index, self.length, type(self).__name__)
        geometry_seq, _ = np.random.SeedSequence([self.seed, i]).spawn(2)
        return self._place(np.random.default_rng(geometry_seq))

    # ----------------------------------------------------------------------------------------

    def _generate(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image ``(H, W)`` float32, label image ``(H, W)`` int64, boxes ``(N, 4)`` float32."""
        h, w = self.size
        # two independent streams: layout (size-independent) and pixel textures
        geometry_seq, texture_seq = np.random.SeedSequence([self.seed, index]).spawn(2)
        tex = np.random.default_rng(texture_seq)

        # 1. nuclei: shapes and positions, many against an earlier one
        nuclei = self._place(np.random.default_rng(geometry_seq))
        # 2. label image: overlaps cut, one connected piece per nucleus, tiny ones dropped
        labels, depth = _label_image(nuclei, h, w, self.min_area)
        # 3. tight boxes, from the bounding slices of each label
        slices = ndi.find_objects(labels)
        boxes = np.array(
            [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in slices], dtype=np.float32
        ).reshape(-1, 4)
        # 4. the microscope image
        short = min(h, w)
        mean_radius = float(np.mean(self.radius)) * short
        image = _microscope(tex, labels, depth, mean_radius, short)
        # 5. extra Gaussian noise, from a stream of its own
        return add_noise(image, self.noise, seed=self.seed, index=index), labels, boxes

    def _place(self, rng: np.random.Generator) -> list[Nucleus]:
        """Draw nuclei one by one; each one either touches an earlier one or lands anywhere."""
        h, w = self.size
        short = min(h, w)
        count = int(rng.integers(self.min_cells, self.max_cells + 1))
        nuclei: list[Nucleus] = []
        centres, radii = np.zeros((count, 2)), np.zeros(count)  # of the nuclei placed so far
        low, high = self.radius
        for _ in range(count):
            # shape: base radius and three harmonics k = 2, 3, 4 (oval, then dents)
            base = _uniform(rng, low, high) * short
            harmonics = np.empty((3, 3))
            harmonics[:, 0] = (2, 3, 4)
            harmonics[:, 1] = rng.random(3) * _AMPLITUDES  # rng.uniform(0, 1, 3), bit for bit
            harmonics[:, 2] = _uniform(rng, 0, 2 * np.pi, 3)
            shape = Nucleus((0.0, 0.0), base, harmonics)
            # position: a few tries to find a spot that does not swallow another nucleus
            m = len(nuclei)
            for _attempt in range(10):
                if nuclei and rng.random() < self.cluster_prob:
                    # against nucleus j, in direction phi, with the edges overlapping a little
                    j = nuclei[int(rng.integers(m))]
                    phi = _uniform(rng, 0, 2 * np.pi)
                    reach = j.radius_at(phi) + shape.radius_at(phi + np.pi)
                    d = reach * _uniform(rng, 0.8, 0.95)
                    cx, cy = j.center[0] + d * math.cos(phi), j.center[1] + d * math.sin(phi)
                else:
                    cx, cy = rng.random() * w, rng.random() * h  # rng.uniform(0, 1), bit for bit
                gaps = (np.hypot(centres[:m, 0] - cx, centres[:m, 1] - cy)
                        - 0.75 * (base + radii[:m]))
                if (gaps >= 0).all():
                    nuclei.append(Nucleus((cx, cy), base, harmonics))
                    centres[m], radii[m] = (cx, cy), base
                    break
        return nuclei


def _noise_level(noise: Any) -> float:
    """``noise`` checked: a finite number >= 0."""
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
    return float(noise)


def add_noise(image: np.ndarray, noise: float, *, seed: int, index: int) -> np.ndarray:
    """``image + noise * N(0, 1)`` per pixel (float32), the noise drawn from the third stream of
    ``(seed, index)`` (the layout and the textures use the first two); ``image`` itself when
    ``noise`` is 0."""
    if noise == 0:
        return image
    stream = np.random.SeedSequence([seed, index]).spawn(3)[2]
    gaussian = np.random.default_rng(stream).standard_normal(image.shape, dtype=np.float32)
    return image + np.float32(noise) * gaussian


def _masks(instances: torch.Tensor, n: int) -> torch.Tensor:
    """One bool mask per nucleus, ``(N, H, W)``: ``masks[k] = instances == k + 1``.

    Set from the foreground pixels only (a few thousand), rather than by comparing every pixel
    with every id (``N x H x W`` comparisons).
    """
    flat = instances.reshape(-1)
    pixels = torch.nonzero(flat).squeeze(1)
    masks = torch.zeros(n, flat.numel(), dtype=torch.bool)
    masks[flat[pixels] - 1, pixels] = True
    return masks.reshape(n, *instances.shape)


def _label_image(shapes: Sequence[Any], h: int, w: int,
                 min_area: int) -> tuple[np.ndarray, np.ndarray]:
    """Label image ``(H, W)`` int64 (1..N) and normalised depth ``(H, W)`` float32.

    Each shape (a :class:`Nucleus`, or a rod of :mod:`.synthetic_rods`) gives the image window it
    may cover (``window(h, w)``) and the normalised distance of pixel centres to it
    (``normalised_distance(xs, ys)``): 0 at its centre (or centre line), 1 on its edge. A pixel
    goes to the shape with the smallest one, if it is below 1. ``depth`` is ``1 - that distance``
    (0 on background), which the renderer uses for a rim-darker profile.
    """
    best = np.ones((h, w), dtype=np.float32)  # smallest normalised distance so far
    owner = np.zeros((h, w), dtype=np.int64)  # index + 1 of the shape with that distance
    # pixel centres, relative to the image's corner (float32, as the distances)
    centre_x = np.arange(w, dtype=np.float32) + np.float32(0.5)
    centre_y = np.arange(h, dtype=np.float32) + np.float32(0.5)
    for k, shape in enumerate(shapes, start=1):
        # window around the shape, clipped to the image
        rows, cols = shape.window(h, w)
        if rows.start >= rows.stop or cols.start >= cols.stop:
            continue
        # normalised distance to this shape; claim the pixels where it is the smallest so far
        dist = shape.normalised_distance(centre_x[cols], centre_y[rows])
        best_here = best[rows, cols]  # views into the image
        closer = dist < best_here
        np.copyto(best_here, dist, where=closer)
        np.copyto(owner[rows, cols], k, where=closer)

    # keep one connected piece per nucleus (the largest; the first in raster order among equal
    # ones) and drop nuclei under min_area. One labelling of the whole owner image finds the
    # 4-connected pieces of every nucleus at once (pixels of different owners never join).
    pieces = label_regions(owner, background=0, connectivity=1)  # (H, W), pieces 1..M, raster order
    sizes = np.bincount(pieces.ravel())[1:]  # (M,)
    piece_owner = np.zeros(len(sizes) + 1, np.int64)
    piece_owner[pieces] = owner  # every pixel of a piece has the same owner
    piece_owner = piece_owner[1:]
    # per owner, its largest piece: sort by owner, then size (descending), then raster order
    order = np.lexsort((np.arange(len(sizes)), -sizes, piece_owner))
    first = np.ones(len(order), bool)
    first[1:] = piece_owner[order[1:]] != piece_owner[order[:-1]]
    best_piece = order[first]  # one piece per owner, owners in increasing order
    best_piece = best_piece[sizes[best_piece] >= min_area]
    # new labels 1..n in the order of the nuclei (owners increase with the nucleus index)
    lut = np.zeros(len(sizes) + 1, np.int64)
    lut[best_piece + 1] = np.arange(1, len(best_piece) + 1)
    labels = lut[pieces]
    depth = np.where(labels > 0, 1 - best, 0).astype(np.float32)
    return labels, depth


def _microscope(
    rng: np.random.Generator, labels: np.ndarray, depth: np.ndarray, mean_radius: float, short: int
) -> np.ndarray:
    """Render the fluorescence image ``(H, W)`` float32 in [0, 1] from the label image."""
    h, w = labels.shape
    n = int(labels.max())
    # 1. dye: each nucleus has its own brightness, a little darker at the rim
    brightness = np.concatenate([[0.0], rng.uniform(0.3, 1.0, n)]).astype(np.float32)
    signal = brightness[labels] * (0.7 + 0.3 * np.sqrt(depth))
    # 2. chromatin: blotchy texture inside the nuclei
    chromatin = smooth_noise(rng, (h, w), max(1.0, 0.3 * mean_radius))
    signal *= 1 + 0.2 * chromatin
    # 3. optics: blur by a Gaussian point spread function, plus a faint background glow
    signal = ndi.gaussian_filter(signal, sigma=max(0.6, 0.12 * mean_radius)) + 0.03
    # 4. uneven illumination: a smooth field, brighter in some corner of the field of view
    signal *= np.clip(1 + 0.25 * smooth_noise(rng, (h, w), 0.5 * short), 0.4, None)
    # 5. camera: shot noise (variance = signal / photons, the Gaussian limit of Poisson counts,
    #    much cheaper to draw) plus read noise
    photons = rng.uniform(40, 300)
    read = rng.uniform(0.005, 0.02)
    std = np.sqrt(np.clip(signal, 0, None) / np.float32(photons) + np.float32(read**2))
    image = signal + std * white_noise(rng, (h, w))
    return np.clip(image, 0, 1).astype(np.float32)
