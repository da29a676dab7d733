"""Synthetic bacteria: thin, elongated, bent rods, crowded and touching, with exact labels.

Omnipose was made for such cells (Cutler et al., Nature Methods 2022): rod-shaped bacteria a few
pixels wide and up to ten times as long, often bent, packed side by side in colonies and end to
end after a division. Cellpose's flows, which run to one centre per cell, break down on them; the
distance field of Omnipose does not (chapter 12).

A rod is a bent capsule: the pixels within ``half_width`` of its centre line, a circular arc of
length ``length`` and constant curvature (a straight segment when the curvature is 0), with round
caps. Its normalised distance is ``distance to the centre line / half_width``: 0 on the line, 1
on the edge, which is what :mod:`.synthetic_cells` cuts overlaps with (each pixel goes to the
shape it is relatively deepest in) and renders the image from: the same microscope (per-cell
brightness, texture, blur, uneven illumination, shot and read noise) and the same optional
Gaussian ``noise`` (for DenoiSeg).

The layout: each rod is placed anywhere at a random angle, or (with probability
``cluster_prob``) against an earlier rod: alongside it, parallel and with the same bend (a
colony), or after its end along its axis (a cell that just divided), the two overlapping a little
so that they touch. A spot is rejected when the new rod's centre line comes closer to another
rod's than ``0.75`` times the two half widths (the nuclei's rule for their centres).

Item ``index`` depends only on ``(seed, index)``; the layout is drawn relative to the shorter
image side, as the nuclei's. :class:`SyntheticRods` gives the items of :class:`SyntheticCells`
(same target format, the class ``"cell"``), ``SyntheticRods.rods(index)`` the rods as placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._synthetic import _fraction_range, _uniform
from .synthetic_cells import SyntheticCells

__all__ = ["Rod", "SyntheticRods"]

GAP = 0.75  # a spot is rejected when two centre lines come closer than GAP x (r_a + r_b)
POINTS = 17  # samples of a centre line for that check (at most 3 pixels apart at 128)


@dataclass(frozen=True)
class Rod:
    """A bent rod in pixel coordinates (x right, y down).

    ``center`` is the middle of the centre line, ``angle`` its direction there (radians),
    ``length`` the centre line's length, ``curvature`` its signed curvature (1 / radius of the
    arc; 0 straight), ``half_width`` the distance from the centre line to the edge.
    """

    center: tuple[float, float]
    angle: float
    length: float
    curvature: float
    half_width: float

    def centre_line(self, t: np.ndarray) -> np.ndarray:
        """Points ``(len(t), 2)`` ``(x, y)`` of the centre line at arc lengths ``t`` from the
        middle (``-length / 2 <= t <= length / 2``)."""
        tx, ty = math.cos(self.angle), math.sin(self.angle)
        cx, cy = self.center
        if abs(self.curvature) < 1e-9:
            return np.stack([cx + t * tx, cy + t * ty], axis=1)
        k = self.curvature
        # the arc turns by k * t from the middle; its circle's centre is 1/k along the normal
        turn = k * t
        along, across = np.sin(turn) / k, (1 - np.cos(turn)) / k
        return np.stack([cx + along * tx - across * ty, cy + along * ty + across * tx], axis=1)

    def end_points(self) -> np.ndarray:
        """The two ends of the centre line, ``(2, 2)`` ``(x, y)``."""
        return self.centre_line(np.array([-self.length / 2, self.length / 2]))

    def window(self, h: int, w: int) -> tuple[slice, slice]:
        """The rows and columns of an ``(h, w)`` image that the rod may cover (maybe empty)."""
        points = self.centre_line(np.linspace(-self.length / 2, self.length / 2, POINTS))
        # the arc bulges at most its sagitta beyond the chords between the samples
        reach = self.half_width + 1 + self.length ** 2 * abs(self.curvature) / (8 * POINTS ** 2)
        (x0, y0), (x1, y1) = points.min(axis=0) - reach, points.max(axis=0) + reach
        return (slice(max(0, math.floor(y0)), min(h, math.ceil(y1) + 1)),
                slice(max(0, math.floor(x0)), min(w, math.ceil(x1) + 1)))

    def normalised_distance(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Distance to the centre line over ``half_width``, ``(len(ys), len(xs))`` float32, at the
        pixel centres ``xs`` (columns) and ``ys`` (rows)."""
        px, py = xs.astype(np.float64)[None, :], ys.astype(np.float64)[:, None]
        ends = self.end_points()
        # to the nearer end (the caps), then to the arc itself where the pixel faces it
        distance = np.minimum(np.hypot(px - ends[0, 0], py - ends[0, 1]),
                              np.hypot(px - ends[1, 0], py - ends[1, 1]))
        tx, ty = math.cos(self.angle), math.sin(self.angle)
        cx, cy = self.center
        if abs(self.curvature) < 1e-9:
            t = (px - cx) * tx + (py - cy) * ty  # position along the segment
            across = np.abs(-(px - cx) * ty + (py - cy) * tx)
            distance = np.where(np.abs(t) <= self.length / 2, across, distance)
        else:
            k = self.curvature
            ox, oy = cx - ty / k, cy + tx / k  # the circle's centre
            radius = 1 / abs(k)
            # the angle of the pixel around the circle, from the middle of the arc
            middle = math.atan2(cy - oy, cx - ox)
            turn = np.angle(np.exp(1j * (np.arctan2(py - oy, px - ox) - middle)))
            on_arc = np.abs(turn) <= abs(k) * self.length / 2
            distance = np.where(on_arc, np.abs(np.hypot(px - ox, py - oy) - radius), distance)
        return (distance / self.half_width).astype(np.float32)


class SyntheticRods(SyntheticCells):
    """Fluorescence-like images of thin, bent, rod-shaped cells, with exact instance labels.

    Args (keyword-only):
        size, length, seed, min_area, channels, noise, transforms: as
            :class:`~segedu.data.SyntheticCells`.
        min_cells, max_cells: how many rods are placed (some may not fit and are left out).
        width: range of a rod's width (twice its half width) as a fraction of the shorter image
            side (0.03 to 0.055: 4 to 7 pixels at 128).
        rod_length: range of its centre line's length, the same way (0.12 to 0.35: 15 to 45
            pixels at 128), which gives length-to-width ratios of about 3 to 10.
        bend: the largest angle (radians) the centre line turns over its length; each rod turns
            by a uniform angle in ``[-bend, bend]``.
        cluster_prob: probability that a rod is placed against an earlier one (alongside it or
            after its end) rather than anywhere.

    Items: as :class:`~segedu.data.SyntheticCells`', one instance per rod.
    """

    classes = ("background", "cell")

    def __init__(self, *, size: int | tuple[int, int] = 128, length: int = 1000, seed: int = 0,
                 min_cells: int = 10, max_cells: int = 40,
                 width: tuple[float, float] = (0.03, 0.055),
                 rod_length: tuple[float, float] = (0.12, 0.35), bend: float = 1.0,
                 cluster_prob: float = 0.7, min_area: int = 8, channels: int = 1,
                 noise: float = 0.0, transforms=None) -> None:
        super().__init__(size=size, length=length, seed=seed, min_cells=min_cells,
                         max_cells=max_cells, cluster_prob=cluster_prob, min_area=min_area,
                         channels=channels, noise=noise, transforms=transforms)
        self.width = _fraction_range(width, "width")
        self.rod_length = _fraction_range(rod_length, "rod_length")
        if isinstance(bend, bool) or not isinstance(bend, (int, float)) or not 0 <= bend <= math.pi:
            raise ValueError(f"bend must be an angle in [0, pi] radians, got {bend!r}")
        self.bend = float(bend)
        self.radius = (self.width[0] / 2, self.width[1] / 2)  # the renderer's mean half width

    def rods(self, index: int) -> list[Rod]:
        """The rods placed for item ``index`` (before cutting overlaps and dropping tiny ones)."""
        return self.nuclei(index)

    def _place(self, rng: np.random.Generator) -> list[Rod]:
        """Draw rods one by one; each one either lies against an earlier one or anywhere."""
        h, w = self.size
        short = min(h, w)
        count = int(rng.integers(self.min_cells, self.max_cells + 1))
        rods: list[Rod] = []
        lines = np.zeros((0, 2))  # the centre-line samples of the rods placed so far
        halves = np.zeros(0)  # their half widths, one per sample
        t = np.linspace(-0.5, 0.5, POINTS)
        for _ in range(count):
            # shape: width, length and bend, drawn relative to the shorter side
            half = _uniform(rng, *self.width) * short / 2
            long = _uniform(rng, *self.rod_length) * short
            curvature = _uniform(rng, -self.bend, self.bend) / long
            for _attempt in range(10):
                rod = self._spot(rng, rods, half, long, curvature, h, w)
                points = rod.centre_line(t * long)  # (POINTS, 2)
                if len(lines):
                    gaps = (np.hypot(points[:, None, 0] - lines[None, :, 0],
                                     points[:, None, 1] - lines[None, :, 1])
                            - GAP * (half + halves[None, :]))
                    if (gaps < 0).any():
                        continue
                rods.append(rod)
                lines = np.concatenate([lines, points])
                halves = np.concatenate([halves, np.full(POINTS, half)])
                break
        return rods

    def _spot(self, rng: np.random.Generator, rods: list[Rod], half: float, long: float,
              curvature: float, h: int, w: int) -> Rod:
        """One candidate spot: against a random earlier rod, or anywhere."""
        if rods and rng.random() < self.cluster_prob:
            j = rods[int(rng.integers(len(rods)))]
            tx, ty = math.cos(j.angle), math.sin(j.angle)
            touch = _uniform(rng, 0.8, 0.95)  # the edges overlap a little
            if rng.random() < 0.5:  # alongside: parallel, same bend, on either side
                side = 1.0 if rng.random() < 0.5 else -1.0
                offset = side * touch * (j.half_width + half)
                shift = _uniform(rng, -0.3, 0.3) * j.length
                centre = (j.center[0] + shift * tx - offset * ty,
                          j.center[1] + shift * ty + offset * tx)
                return Rod(centre, j.angle, long, j.curvature, half)
            # after one end, along the axis there (a cell that just divided)
            end = 1.0 if rng.random() < 0.5 else -1.0
            (x, y), = j.centre_line(np.array([end * j.length / 2]))
            heading = j.angle + end * j.curvature * j.length / 2 + (0 if end > 0 else math.pi)
            reach = touch * (j.half_width + half) + long / 2
            centre = (x + reach * math.cos(heading), y + reach * math.sin(heading))
            return Rod(centre, heading, long, curvature, half)
        angle = _uniform(rng, 0, 2 * math.pi)
        return Rod((rng.random() * w, rng.random() * h), angle, long, curvature, half)
