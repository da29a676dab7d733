"""Hand-made label images for the Omnipose tests: round, touching, at the border, thin and bent."""

from __future__ import annotations

import numpy as np


def serpentine(rows: int, *, width: int = 3, size: int = 64, gap: int = 4) -> np.ndarray:
    """One long thin cell winding back and forth ``rows`` times: ``(size, size)`` int64, id 1."""
    m = np.zeros((size, size), np.int64)
    tops = [4 + k * (width + gap) for k in range(rows)]
    for k, top in enumerate(tops):
        m[top:top + width, 4:size - 4] = 1  # a horizontal run
        if k + 1 < rows:  # the bend down to the next run, at alternate ends
            col = size - 4 - width if k % 2 == 0 else 4
            m[top:tops[k + 1] + width, col:col + width] = 1
    return m


def label_cases() -> dict[str, np.ndarray]:
    """Small label images, each a case the field, flows or boundary must get right."""
    cases = {}
    one_pixel = np.zeros((12, 14), np.int64)
    one_pixel[5, 7] = 1
    cases["one_pixel"] = one_pixel
    yy, xx = np.mgrid[:32, :36]
    cases["disk"] = (((yy - 15.3) ** 2 + (xx - 17.6) ** 2) < 100).astype(np.int64)
    touching = np.zeros((24, 30), np.int64)
    touching[4:20, 3:15] = 1
    touching[4:20, 15:27] = 2  # shares a vertical edge with 1
    touching[2:6, 10:20] = 3  # overlaps both from above
    cases["touching"] = touching
    border = np.zeros((20, 20), np.int64)
    border[:8, :6] = 1  # corner
    border[10:, 12:] = 2  # other corner
    border[5:14, 18:] = 3  # right edge
    cases["border"] = border
    ids = np.zeros((20, 24), np.int64)
    ids[2:9, 2:10] = 7
    ids[11:18, 4:20] = 3
    ids[2:9, 12:22] = 100
    cases["non_consecutive"] = ids
    ring = ((yy - 16) ** 2 + (xx - 16) ** 2 < 144) & ((yy - 16) ** 2 + (xx - 16) ** 2 > 25)
    cases["c_shape"] = (ring & ~((xx > 16) & (np.abs(yy - 16) < 3))).astype(np.int64)
    cases["thin_bent"] = serpentine(3, size=40)
    rng = np.random.default_rng(0)  # random pieces, many touching, some one pixel
    cases["random"] = rng.integers(0, 4, size=(20, 24)) * rng.integers(0, 2, size=(20, 24))
    return cases


def scene() -> np.ndarray:
    """A 48 x 64 scene for the reconstruction: a disk, a thin rod, a bent L, a cell at the
    border."""
    yy, xx = np.mgrid[:48, :64]
    m = np.zeros((48, 64), np.int64)
    m[((yy - 15) ** 2 + (xx - 18) ** 2) < 100] = 1
    m[30:36, 5:60] = 2
    m[2:20, 40:46] = 3
    m[2:8, 46:62] = 3
    m[40:48, 0:12] = 4
    return m
