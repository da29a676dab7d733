"""The pieces of the fast paths that the readable versions do not have, each against a brute force.

The fast paths as a whole are compared with the readable versions and with stardist in
``test_rays.py`` and ``test_nms.py``; these tests pin the shortcuts they take on their own.
"""

import numpy as np
import pytest
from stardist.geometry import star_dist

from segedu.models.bottom_up.stardist import (
    polygon_area,
    polygon_intersection_area,
    polygon_nms,
    ray_directions,
    rays_to_polygons,
    star_distances,
)
from segedu.models.bottom_up.stardist.nms import area_in_boxes, simple_polygons, star_shaped
from segedu.models.bottom_up.stardist.rays import step_shifts


def _one_step(off_row, off_col, height, width, padded_width):
    """:func:`step_shifts` of one step ``off (R,)``: its shifts ``(R,)``, None where not exact."""
    shifts, exact = step_shifts(off_row[None], off_col[None], height, width, padded_width)
    return shifts[0] if exact[0] else None


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
        fast = _one_step(off_row, off_col, 70, 90, 92)
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
        fast = _one_step(off_row, off_col, 5000, 40, 42)
        slow = _shifts_by_rounding(off_row, off_col, 5000, 40, 42)
        assert fast is None or np.array_equal(fast, slow)
    off = np.array([3.25, -7.75], np.float32)
    np.testing.assert_array_equal(_one_step(off, off, 5000, 40, 42),
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


def _snapped(dist, points):
    """Star polygons as ``polygon_nms`` sees them: (x, y) vertices truncated to integers."""
    coords = rays_to_polygons(dist, points).numpy()
    return np.trunc(coords[:, ::-1].transpose(0, 2, 1).astype(np.float64))


def test_simple_polygons_by_hand():
    """Simple: a square, a zig-zag that no ray from one centre sees once, repeated vertices,
    either orientation. Not simple: a bow tie, edges touching at a vertex (a pinched polygon),
    a spike folding back onto itself, twice around, non-integer or too few distinct vertices."""
    square = [[0, 0], [4, 0], [4, 4], [0, 4]]
    zigzag = [[0, 0], [6, 0], [6, 6], [4, 6], [5, 2], [3, 6], [2, 2], [1, 6], [0, 6]]
    repeats = [[0, 0], [0, 0], [4, 0], [4, 4], [4, 4], [0, 4], [0, 0]]
    bow_tie = [[0, 0], [4, 4], [4, 0], [0, 4]]
    pinched = [[0, 0], [4, 0], [2, 2], [4, 4], [0, 4], [2, 2]]
    spike = [[0, 0], [4, 0], [4, 4], [6, 4], [4, 4], [0, 4]]
    twice = [[4, 0], [0, 4], [-4, 0], [0, -4]] * 2
    flat = [[0, 0], [2, 0], [4, 0]]
    cases = [(square, True), (square[::-1], True), (zigzag, True), (zigzag[::-1], True),
             (repeats, True), (bow_tie, False), (pinched, False), (spike, False),
             (twice, False), (flat, False), ([[0, 0], [3, 0], [3, 3], [3, 3]], True),
             ([[0, 0], [0, 0], [5, 5]], False)]
    for polygon, expected in cases:
        v = np.array(polygon, float)
        padded = np.concatenate([v, np.repeat(v[-1:], 10 - len(v), axis=0)])  # V = 10 for all
        assert simple_polygons(padded[None])[0] == expected, polygon
    assert not simple_polygons(np.array([square], float) + 0.5)[0]  # snap=False: never


def test_simple_polygons_have_green_areas_in_boxes():
    """What the bounds need: for every snapped star polygon called simple (zig-zags from short,
    noisy rays included), the area under the non-zero rule (the exact sweep of the polygon with
    itself) is its shoelace area, and its area inside random boxes by Green's theorem equals the
    exact sweep of the polygon with the box."""
    rng = np.random.default_rng(5)
    dist = rng.uniform(0.3, 1, (400, 16)) * rng.uniform(1, 6, (400, 1))
    points = rng.integers(0, 30, (400, 2))
    vertices = _snapped(dist, points)
    simple = simple_polygons(vertices)
    star = star_shaped(vertices, points[:, ::-1].astype(float))
    assert simple.mean() > 0.5 and np.sum(simple & ~star) > 10
    for v in vertices[simple][:150]:
        area = polygon_area(v)
        assert polygon_intersection_area(v, v[None])[0] == pytest.approx(area, abs=1e-9)
        low = v.min(axis=0) + rng.uniform(-1, 3, 2)
        high = low + rng.uniform(0.5, 6, 2)
        box = np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]],
                        [low[0], high[1]]])
        expected = polygon_intersection_area(v, box[None])[0]
        assert area_in_boxes(v, low, high) == pytest.approx(expected, abs=1e-9)


def test_pairwise_intersection_areas_are_the_same_bits():
    """``polygon_intersection_area`` pair by pair (``a (J, V, 2)``) gives the bits of one polygon
    against many, whatever the other pairs of the call: the fast NMS settles the waiting pairs of
    several kept polygons in one call and must decide them as the readable version does."""
    rng = np.random.default_rng(6)
    vertices = _snapped(rng.uniform(0.5, 6, (40, 12)), rng.integers(0, 12, (40, 2)))
    first, second = rng.integers(0, 40, 90), rng.integers(0, 40, 90)
    pairwise = polygon_intersection_area(vertices[first], vertices[second])
    one_by_one = [polygon_intersection_area(vertices[i], vertices[j][None])[0]
                  for i, j in zip(first, second, strict=True)]
    np.testing.assert_array_equal(pairwise, one_by_one)
    np.testing.assert_array_equal(polygon_intersection_area(vertices[first[:5]],
                                                            vertices[second[:5]]), pairwise[:5])


@pytest.mark.parametrize("thresh", [0.1, 0.4, 0.7])
def test_fast_nms_with_zigzag_polygons_equals_readable(thresh):
    """Candidates whose rays are short and noisy, so that many snapped polygons zig-zag (simple
    but not star-shaped) or cross themselves: bounds for one simple polygon of a pair, pairs left
    for the exact overlap and settled later, kept polygons identical to the readable version's."""
    rng = np.random.default_rng(int(thresh * 10))
    n = 300
    centres = rng.integers(0, 40, (12, 2))
    points = centres[rng.integers(0, 12, n)] + rng.integers(-3, 4, (n, 2))
    dist = rng.uniform(0.2, 1, (n, 16)) * rng.uniform(1, 7, (n, 1))
    scores = rng.uniform(0, 1, n)
    vertices = _snapped(dist, points)
    centers = points[:, ::-1].astype(float)
    assert np.sum(~star_shaped(vertices, centers) & simple_polygons(vertices)) > 10
    assert np.sum(~simple_polygons(vertices)) > 10
    fast = polygon_nms(dist, points, scores, thresh).numpy()
    readable = polygon_nms(dist, points, scores, thresh, method="readable").numpy()
    np.testing.assert_array_equal(fast, readable)


def test_fast_star_distances_beyond_one_chunk_of_steps():
    """Rays longer than the 32 steps the fast path walks ahead at a time (offsets accumulated in
    chunks must continue exactly where the last chunk ended): a large object with a hole and a
    touching neighbour, 12 rays (steps at exact halves too)."""
    labels = np.zeros((75, 80), np.int64)
    labels[2:73, 3:78] = 7
    labels[30:40, 30:45] = 0
    labels[60:75, 0:20] = 2
    fast = star_distances(labels, 12).numpy()
    assert fast.max() > 40
    np.testing.assert_array_equal(fast, star_distances(labels, 12, method="readable").numpy())
    np.testing.assert_array_equal(fast.transpose(1, 2, 0), star_dist(labels, 12, mode="cpp"))
