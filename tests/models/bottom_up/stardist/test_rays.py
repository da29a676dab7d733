"""Star distances against ``stardist.geometry.star_dist`` and against values derived by hand."""

import math

import numpy as np
import pytest
import torch
from stardist.geometry import star_dist

from segedu.data.synthetic_cells import SyntheticCells
from segedu.models.bottom_up.stardist import ray_directions, star_distances


def _ours(labels, n_rays):
    return star_distances(labels, n_rays).numpy().transpose(1, 2, 0)  # (H, W, R) as stardist


@pytest.mark.parametrize("n_rays", [3, 8, 32, 33])
def test_equal_to_stardist_cpp_on_random_labels(n_rays):
    """Bit-for-bit equal to the C++ ``star_dist`` (random labels: touching objects everywhere)."""
    rng = np.random.default_rng(n_rays)
    labels = rng.integers(0, 4, size=(21, 26))
    np.testing.assert_array_equal(_ours(labels, n_rays), star_dist(labels, n_rays, mode="cpp"))


def test_equal_to_stardist_on_synthetic_cells_both_input_types():
    labels = SyntheticCells(size=64, length=2, seed=3)[1][1]["instances"]  # torch int64
    expected = star_dist(labels.numpy(), 32, mode="cpp")
    np.testing.assert_array_equal(_ours(labels, 32), expected)
    np.testing.assert_array_equal(_ours(labels.numpy().astype(np.int32), 32), expected)


def test_edge_cases_equal_to_stardist():
    """Empty image, one-pixel object, objects cut by the border, non-consecutive ids, touching."""
    labels = np.zeros((12, 15), np.int64)
    np.testing.assert_array_equal(_ours(labels, 16), star_dist(labels, 16))  # empty: all zero
    labels[5, 7] = 9  # one pixel: every ray is 0.5 / max(|sin|, |cos|) long
    labels[:4, :3] = 200  # at the corner
    labels[8:, 10:] = 3  # at the other corner
    labels[8:, 6:10] = 65535  # touching 3; the largest id stardist's uint16 cast keeps
    np.testing.assert_array_equal(_ours(labels, 16), star_dist(labels, 16))
    d_row, d_col = ray_directions(16)
    np.testing.assert_allclose(_ours(labels, 16)[5, 7], 0.5 / np.maximum(abs(d_row), abs(d_col)),
                               rtol=1e-6)


def test_python_mode_differs_by_float32_sin_cos_only():
    """stardist's ``mode='python'`` uses numpy's float32 sin/cos, which are off by an ulp for some
    angles; its C++ mode (and ours) round the float64 sin/cos of the float32 angle. The two stardist
    modes differ from each other by the same few ulps, so we compare with 'python' at 2 ulps."""
    labels = np.random.default_rng(0).integers(0, 3, size=(15, 17))
    ours, python = _ours(labels, 32), star_dist(labels, 32, mode="python")
    np.testing.assert_array_max_ulp(ours, python, maxulp=2)
    np.testing.assert_array_equal(ours, star_dist(labels, 32, mode="cpp"))


def test_disk_from_its_centre():
    """A digital disk ``{p : |p - c|^2 <= r^2}`` of radius r = 10, seen from its centre pixel c.

    Along the 4 axis rays, pixels c + t are inside up to t = r, so the ray stops at step r + 1 and
    is measured back to the edge of the last pixel: exactly r + 0.5. Along any ray, a sample at
    t < r - sqrt(2)/2 rounds to a pixel inside and one at t > r + sqrt(2)/2 to a pixel outside, and
    the final correction adds 0.5 to 0.71 step: every ray lies in [r - 1.21, r + 1.42]."""
    r, size = 10, 31
    yy, xx = np.mgrid[:size, :size] - 15
    labels = (yy**2 + xx**2 <= r**2).astype(np.int64)
    rays = _ours(labels, 32)[15, 15]
    np.testing.assert_array_equal(rays[[0, 8, 16, 24]], r + 0.5)
    assert np.all(rays >= r - 1.21) and np.all(rays <= r + 1.42)
    assert abs(rays.mean() - (r + 0.25)) < 0.25  # on average about the radius plus the correction


def test_square_from_its_centre():
    """An axis-aligned square of side s = 11 (h = 5 pixels each side of the centre).

    Axis rays: stop at step h + 1 = 6, corrected by 0.5: 5.5 = s / 2 (half side, edge to edge).
    Diagonal rays (direction (1, 1)/sqrt 2): the sample t/sqrt 2 rounds inside while
    t/sqrt 2 < 5.5, i.e. up to t = 7 (4.95); t = 8 (5.66) is outside. The ray is 7 steps plus the
    correction 0.5 / (1/sqrt 2) = 1/sqrt 2: 7.7071, close to the corner's s/2 * sqrt 2 = 7.778."""
    labels = np.zeros((21, 21), np.int64)
    labels[5:16, 5:16] = 4
    rays = _ours(labels, 8)[10, 10]  # 8 rays: axes and diagonals
    np.testing.assert_allclose(rays[[0, 2, 4, 6]], 5.5, rtol=1e-6)
    np.testing.assert_allclose(rays[[1, 3, 5, 7]], 7 + 1 / math.sqrt(2), rtol=1e-6)
    assert np.all(np.abs(rays[[1, 3, 5, 7]] - 5.5 * math.sqrt(2)) < 1 / math.sqrt(2))


def test_large_ids_are_their_own_objects():
    """stardist casts to uint16 (65536 wraps to background); our ids are int64."""
    labels = np.zeros((9, 9), np.int64)
    labels[2:7, 2:7] = 65536
    expected = star_dist((labels > 0).astype(np.int64), 8)
    np.testing.assert_array_equal(_ours(labels, 8), expected)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 4, 4), np.int64), "2-D"),
        (np.zeros((4, 4), np.float32), "integer"),
        (torch.zeros(4, 4), "integer"),
        (-np.ones((4, 4), np.int64), "negative"),
    ],
)
def test_bad_labels(bad, match):
    with pytest.raises(ValueError, match=match):
        star_distances(bad)


@pytest.mark.parametrize("n_rays", [2, 0, 2.5])
def test_bad_n_rays(n_rays):
    with pytest.raises(ValueError, match="n_rays"):
        star_distances(np.zeros((4, 4), np.int64), n_rays)


def _fast_readable_reference(labels, n_rays):
    fast = star_distances(labels, n_rays).numpy()
    readable = star_distances(labels, n_rays, method="readable").numpy()
    np.testing.assert_array_equal(fast, readable)
    return fast


@pytest.mark.parametrize("seed", range(4))
def test_fast_equals_readable_and_stardist_on_random_labels(seed):
    """The fast path (tables per step) against the readable marching and the C++ reference, bit for
    bit: random labels (touching everywhere), blobs of SyntheticCells, odd ray counts."""
    rng = np.random.default_rng(100 + seed)
    n_rays = [5, 16, 32, 45][seed]
    labels = rng.integers(0, 1 + 3 * seed,
                          size=(int(rng.integers(1, 30)), int(rng.integers(1, 30))))
    np.testing.assert_array_equal(_fast_readable_reference(labels, n_rays).transpose(1, 2, 0),
                                  star_dist(labels, n_rays, mode="cpp"))
    cells = SyntheticCells(size=48, length=4, seed=seed)[seed][1]["instances"].numpy()
    np.testing.assert_array_equal(_fast_readable_reference(cells, n_rays).transpose(1, 2, 0),
                                  star_dist(cells, n_rays, mode="cpp"))


def test_fast_equals_readable_on_edge_cases():
    """Empty image, a full image (one object touching all four borders), a single pixel, single rows
    and columns, ids beyond int32 (compacted by the fast path) next to small ids."""
    for labels in (np.zeros((7, 9), np.int64), np.full((6, 5), 3, np.int64),
                   np.ones((1, 1), np.int64),
                   np.array([[0, 1, 1, 2, 2, 2, 0]]), np.array([[4], [4], [0], [5]])):
        expected = star_dist(labels.astype(np.uint16), 12, mode="cpp").transpose(2, 0, 1)
        np.testing.assert_array_equal(_fast_readable_reference(labels, 12), expected)
    huge = np.zeros((10, 12), np.int64)
    huge[1:6, 1:8] = 2**40
    huge[6:9, 3:11] = 1  # touching the huge id
    huge[2:4, 8:11] = 2**40 + 1  # touching it too: a different object
    same_shapes = np.unique(huge, return_inverse=True)[1].reshape(huge.shape)
    np.testing.assert_array_equal(_fast_readable_reference(huge, 16).transpose(1, 2, 0),
                                  star_dist(same_shapes, 16, mode="cpp"))


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        star_distances(np.zeros((4, 4), np.int64), 8, method="quick")
