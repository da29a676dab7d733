"""The pieces of the fast paths that the readable versions do not have, each against a brute force.

The fast paths as a whole are compared with the readable versions and with stardist in
``test_rays.py`` and ``test_nms.py``; these tests pin the shortcuts they take on their own.
"""

import numpy as np
import pytest
from stardist.geometry import star_dist

from segedu.models.bottom_up.stardist import ray_directions, star_distances
from segedu.models.bottom_up.stardist.rays import _step_shifts


def _shifts_by_rounding(off_row, off_col, height, width, padded_width):
    """The shift of every start pixel, rounded as the readable marching does (None: not all
    equal)."""
    rows = np.arange(height, dtype=np.float32)[None, :]
    cols = np.arange(width, dtype=np.float32)[None, :]
    d_row = np.rint(rows + off_row[:, None]) - rows  # (R, H), float32 sums as the reference
    d_col = np.rint(cols + off_col[:, None]) - cols
    if np.any(d_row != d_row[:, :1]) or np.any(d_col != d_col[:, :1]):
        return None
    return d_row[:, 0].astype(np.int64) * padded_width + d_col[:, 0].astype(np.int64)


@pytest.mark.parametrize("n_rays", [3, 12, 32, 45])
def test_step_shifts_equal_rounding_every_start(n_rays):
    """Along every ray and step, a shift returned is what rounding gives for every start pixel;
    None comes only where the fraction of the offset lies at 1/2 within the margin (offsets that
    are exact halves, as ``0.5`` for 12 rays, do not round the same way for every row)."""
    d_row, d_col = ray_directions(n_rays)
    off_row, off_col = np.zeros(n_rays, np.float32), np.zeros(n_rays, np.float32)
    n_none = 0
    for _ in range(80):
        off_row, off_col = off_row + d_row, off_col + d_col
        fast = _step_shifts(off_row, off_col, 70, 90, 92)
        slow = _shifts_by_rounding(off_row, off_col, 70, 90, 92)
        if fast is None:
            n_none += 1
            fraction = np.r_[off_row, off_col].astype(np.float64) % 1
            assert np.min(np.abs(fraction - 0.5)) < 1e-3
        else:
            np.testing.assert_array_equal(fast, slow)
    assert (n_none > 0) == (n_rays in (3, 12, 45))  # 2 pi k / R = pi / 6 or 5 pi / 6 hits 0.5


def test_step_shifts_near_half_and_far_from_the_origin():
    """Offsets within float32 rounding of a half, at rows up to 5000: rounding ``row + off`` then
    depends on the row, and the shortcut must decline (or agree where it answers)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        base = rng.integers(-60, 60, 8).astype(np.float32) + np.float32(0.5)
        off_row = np.nextafter(base, base + rng.choice([-1, 1], 8)).astype(np.float32)
        off_row[::2] = base[::2]  # exact halves too
        off_col = rng.uniform(-60, 60, 8).astype(np.float32)
        fast = _step_shifts(off_row, off_col, 5000, 40, 42)
        slow = _shifts_by_rounding(off_row, off_col, 5000, 40, 42)
        assert fast is None or np.array_equal(fast, slow)
    off = np.array([3.25, -7.75], np.float32)
    np.testing.assert_array_equal(_step_shifts(off, off, 5000, 40, 42),
                                  _shifts_by_rounding(off, off, 5000, 40, 42))


@pytest.mark.parametrize("n_rays", [6, 12, 24])
def test_fast_star_distances_at_half_offsets_equal_readable_and_stardist(n_rays):
    """Ray counts whose steps land on exact halves take the per-row tables at those steps: objects
    of both parities of rows and columns, touching, cut by the border, on the int16 label path."""
    rng = np.random.default_rng(n_rays)
    labels = np.zeros((33, 40), np.int64)
    for k in range(12):
        r, c = rng.integers(0, 33), rng.integers(0, 40)
        labels[max(r - 5, 0):r + int(rng.integers(1, 7)),
               max(c - 4, 0):c + int(rng.integers(1, 9))] = k + 1
    fast = star_distances(labels, n_rays).numpy()
    np.testing.assert_array_equal(fast, star_distances(labels, n_rays, method="readable").numpy())
    np.testing.assert_array_equal(fast.transpose(1, 2, 0), star_dist(labels, n_rays, mode="cpp"))
