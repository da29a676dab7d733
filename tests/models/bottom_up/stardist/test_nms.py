"""Polygon NMS against ``stardist.nms``; exact polygon areas against values derived by hand."""

import numpy as np
import pytest
from stardist.geometry import star_dist
from stardist.nms import non_maximum_suppression, non_maximum_suppression_inds
from stardist.utils import edt_prob

from segedu.data.synthetic_cells import SyntheticCells
from segedu.models.bottom_up.stardist import (
    polygon_area,
    polygon_intersection_area,
    polygon_nms,
    rays_to_polygons,
)


def test_intersection_areas_by_hand():
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    others = np.array([
        [[2, 2], [6, 2], [6, 6], [2, 6]],  # shifted by (2, 2): a 2x2 overlap
        [[0, 0], [4, 0], [4, 4], [0, 4]],  # itself
        [[4, 0], [8, 0], [8, 4], [4, 4]],  # sharing an edge only
        [[1, 1], [2, 1], [2, 2], [1, 2]],  # inside
        # a diamond around the centre: the square minus 4 corners
        [[2, -1], [5, 2], [2, 5], [-1, 2]],
    ], float)
    expected = [4, 16, 0, 1, 16 - 4 * 0.5]  # corners cut off: 4 triangles with legs 1
    np.testing.assert_allclose(polygon_intersection_area(square, others), expected, atol=1e-12)
    np.testing.assert_allclose(polygon_intersection_area(square, others[:, ::-1]), expected,
                               atol=1e-12)
    np.testing.assert_allclose(polygon_area(others), [16, 16, 16, 1, 18])
    # a non-convex (star) polygon: an L shape of area 3 against the unit square at its corner
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], float)
    assert (polygon_intersection_area(ell, np.array([[[1, 1], [2, 1], [2, 2], [1, 2]]], float))[0]
            == 0)
    # shifted by (0.5, 0.5): a quarter of the corner cell + half of each arm cell = 0.25 + 0.5 + 0.5
    assert polygon_intersection_area(ell, ell[None] + 0.5)[0] == pytest.approx(1.25)


def test_small_polygon_inside_large_one_is_suppressed():
    """Intersection over the *smaller* area: a disk of radius 2 inside one of radius 10 has IoU 0.04
    but overlap 1.0, so it is suppressed (an IoU rule would keep it)."""
    dist = np.array([[10.0] * 16, [2.0] * 16])
    points = np.array([[20, 20], [22, 20]])
    assert polygon_nms(dist, points, np.array([0.9, 0.8]), 0.4).tolist() == [0]
    assert polygon_nms(dist, points, np.array([0.8, 0.9]), 0.4).tolist() == [1]
    far = np.array([[20, 20], [45, 45]])
    # by decreasing score
    assert polygon_nms(dist, far, np.array([0.8, 0.9]), 0.4).tolist() == [1, 0]


def _noisy_prediction(labels, noise, seed):
    rng = np.random.default_rng(seed)
    dist = star_dist(labels, 32) + rng.normal(0, noise, labels.shape + (32,)).astype(np.float32)
    prob = (edt_prob(labels) + rng.uniform(-0.05, 0.05, labels.shape)).astype(np.float32)
    return np.maximum(dist, 1e-3), prob  # continuous scores: no ties


def _candidates(dist, prob, b=2):
    mask = prob > 0.5
    mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = False, False, False, False
    return dist[mask], np.argwhere(mask), prob[mask]


@pytest.mark.parametrize("index, noise, thresh",
                         [(0, 0.5, 0.4), (1, 1.0, 0.5), (2, 0.5, 0.1), (3, 1.5, 0.4)])
def test_equal_to_stardist_non_maximum_suppression(index, noise, thresh):
    """Predictions made from true label images with noise: the same polygons survive as with
    ``stardist.nms.non_maximum_suppression`` (b = 2 border, prob_thresh = 0.5), in the
    same order."""
    labels = SyntheticCells(size=64, length=4, seed=1)[index][1]["instances"].numpy()
    dist, prob = _noisy_prediction(labels, noise, seed=index)
    points_ref, _, _ = non_maximum_suppression(dist, prob, nms_thresh=thresh, prob_thresh=0.5, b=2)
    d, points, scores = _candidates(dist, prob)
    keep = polygon_nms(d, points, scores, thresh).numpy()
    np.testing.assert_array_equal(points[keep], points_ref)


def test_disagreements_are_clipper_rounding_at_the_threshold():
    """With strong noise (2 px per ray), stardist and we may differ on a few polygons: Clipper
    rounds edge crossings to integer coordinates, which changes an intersection area by a fraction
    of a pixel, i.e. the overlap ratio by about 1 / area. Every differing polygon must have a
    decisive pair whose exact ratio lies within 1 / (smaller area) of the threshold; all others
    agree."""
    labels = SyntheticCells(size=128, length=1, seed=0)[0][1]["instances"].numpy()[32:96, 32:96]
    thresh, differing = 0.3, 0
    for seed in range(3):
        dist, prob = _noisy_prediction(labels, 2.0, seed=10 + seed)
        d, points, scores = _candidates(dist, prob)
        order = np.argsort(-scores, kind="stable")
        d, points, scores = d[order], points[order], scores[order]
        ref = np.flatnonzero(non_maximum_suppression_inds(d, points.astype(np.int32), scores,
                                                          thresh=thresh,
                                                          verbose=0))
        ours = np.sort(polygon_nms(d, points, scores, thresh).numpy())
        polygons = rays_to_polygons(d, points).numpy()[:, ::-1].transpose(0, 2, 1)
        vertices = np.trunc(polygons.astype(float))
        areas = polygon_area(vertices)
        for j in set(ref) ^ set(ours):
            differing += 1
            kept_before = np.union1d(ref, ours)
            kept_before = kept_before[kept_before < j]
            ratios = polygon_intersection_area(vertices[j], vertices[kept_before]) / np.minimum(
                areas[j], areas[kept_before])
            assert np.min(np.abs(ratios - thresh) * np.minimum(areas[j], areas[kept_before])) < 1.0
    assert differing <= 3


def test_a_tie_with_the_threshold_explained():
    """Image 1 with noise 1.0 and threshold 0.7 disagrees with stardist from the 6th polygon on
    (and the disagreement cascades): that polygon (area 24 after snapping) overlaps an earlier kept
    one by exactly 16.8 = 0.7 * 24, so the exact ratio equals the threshold and ``> 0.7`` keeps it;
    Clipper, rounding the edge crossings to integers, finds a little more and suppresses it."""
    labels = SyntheticCells(size=64, length=4, seed=1)[1][1]["instances"].numpy()
    dist, prob = _noisy_prediction(labels, 1.0, seed=1)
    d, points, scores = _candidates(dist, prob)
    order = np.argsort(-scores, kind="stable")
    polygons = rays_to_polygons(d[order], points[order]).numpy()[:, ::-1].transpose(0, 2, 1)
    vertices = np.trunc(polygons.astype(float))
    areas = polygon_area(vertices)
    assert areas[5] == 24
    ratios = polygon_intersection_area(vertices[5], vertices[:5]) / np.minimum(areas[5], areas[:5])
    assert np.max(ratios) == pytest.approx(0.7, abs=1e-12)
    assert order[5] in polygon_nms(d, points, scores, 0.7).tolist()


def test_nms_inputs():
    assert polygon_nms(np.zeros((0, 8)), np.zeros((0, 2)), np.zeros(0)).tolist() == []
    with pytest.raises(ValueError, match="points"):
        polygon_nms(np.ones((3, 8)), np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="dist"):
        polygon_nms(np.ones((3, 2)), np.zeros((3, 2)), np.zeros(3))


def _both_methods(dist, points, scores, thresh):
    fast = polygon_nms(dist, points, scores, thresh).numpy()
    readable = polygon_nms(dist, points, scores, thresh, method="readable").numpy()
    np.testing.assert_array_equal(fast, readable)
    return fast


@pytest.mark.parametrize("index, noise, thresh",
                         [(0, 0.5, 0.4), (1, 1.0, 0.7), (2, 2.0, 0.3), (3, 1.5, 0.05),
                                                  (0, 0.2, 0.95)])
def test_fast_equals_readable_and_stardist(index, noise, thresh):
    """The fast path (bounds first, exact overlaps only for the undecided pairs) keeps the same
    polygons, in the same order, as the readable version, on noisy predictions from true labels
    (every candidate of the image, border strip included), and the same set as stardist where
    the exact ratios are not within Clipper's rounding of the threshold (noise <= 1)."""
    labels = SyntheticCells(size=64, length=4, seed=1)[index][1]["instances"].numpy()
    dist, prob = _noisy_prediction(labels, noise, seed=index)
    d, points, scores = _candidates(dist, prob, b=0)
    keep = _both_methods(d, points, scores, thresh)
    if noise <= 1.0 and thresh != 0.7:  # 0.7 on image 1: the exact tie of the test below
        order = np.argsort(-scores, kind="stable")
        ref = order[np.flatnonzero(non_maximum_suppression_inds(d[order],
                                                                points[order].astype(np.int32),
                                                                 scores[order], thresh=thresh,
                                                                verbose=0))]
        np.testing.assert_array_equal(np.sort(keep), np.sort(ref))


def test_fast_equals_readable_on_edge_cases():
    """No candidate; polygons that touch along an edge (overlap 0: both kept); a polygon inside
    another (ratio 1); an overlap exactly at the threshold (kept: suppression needs ``>``);
    candidates on the image border, whose vertices have negative coordinates
    (truncated toward 0)."""
    assert _both_methods(np.zeros((0, 8)), np.zeros((0, 2)), np.zeros(0), 0.4).tolist() == []
    # 4 rays (right, down, left, up) of length 2 from (5, 5) and (5, 9): diamonds touching at a
    # corner, and 8-ray squares sharing an edge
    diamonds = _both_methods(np.full((2, 4), 2.0), np.array([[5, 5], [5, 9]]), np.array([0.9, 0.8]),
                             0.0)
    assert diamonds.tolist() == [0, 1]
    side = np.array([2.0, 2 * np.sqrt(2)] * 4)  # a square of half side 2 (vertices on the corners)
    assert _both_methods(np.stack([side, side]), np.array([[5, 5], [5, 9]]), np.array([0.9, 0.8]),
                         0.0).tolist() \
        == [0, 1]
    inside = _both_methods(np.array([[6.0] * 16, [2.0] * 16]), np.array([[10, 10], [10, 11]]),
                           np.array([0.5, 0.9]), 0.99)
    assert inside.tolist() == [1]
    # squares of side 4 shifted by 2 columns: overlap 8 of 16 = exactly 0.5
    pts = np.array([[10, 10], [10, 12]])
    assert _both_methods(np.stack([side, side]), pts, np.array([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert (_both_methods(np.stack([side, side]), pts, np.array([0.9, 0.8]), 0.5 - 1e-9).tolist()
            == [0])
    # at the border: centres on row 0 and column 0, rays reaching outside the image
    rng = np.random.default_rng(7)
    border = np.array([[0, 0], [0, 3], [2, 0], [0, 30], [30, 0], [1, 1]] * 4)
    dist = rng.uniform(1, 8, (len(border), 16))
    scores = rng.uniform(0, 1, len(border))
    for thresh in (0.1, 0.4, 0.8):
        _both_methods(dist, border, scores, thresh)


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        polygon_nms(np.ones((3, 8)), np.zeros((3, 2)), np.zeros(3), method="quick")


def test_star_shaped_polygons_and_their_areas():
    """The fast path's bounds hold for polygons that go once around their centre: a square around
    it, a square with a corner on it (the boundary passes through the centre), clockwise too; not a
    bow tie, a polygon that turns back, or one that goes twice around. For every snapped star
    polygon it calls simple (rays shorter than a pixel included), the area that Green's theorem
    gives inside a box that holds it equals the shoelace area and the area under the non-zero rule
    (the exact sweep of the polygon with itself)."""
    from segedu.models.bottom_up.stardist.nms import area_in_boxes, star_shaped

    c = np.array([[5.0, 5.0]])
    square = np.array([[7, 5], [7, 7], [3, 7], [3, 3], [7, 3]], float)
    corner = np.array([[5, 5], [8, 5], [8, 8], [5, 8]], float)
    bow_tie = np.array([[3, 3], [7, 7], [7, 3], [3, 7]], float)
    back = np.array([[8, 5], [5, 8], [8, 6], [2, 5], [5, 2]], float)
    twice = np.array([[5 + 3 * np.cos(a), 5 + 3 * np.sin(a)]
                      for a in np.linspace(0, 4 * np.pi, 9)[:-1]])
    for polygon, expected in ((square, True), (square[::-1], True), (corner, True),
                              (corner[::-1], True),
                              (bow_tie, False), (back, False), (twice, False)):
        assert star_shaped(polygon[None], c)[0] == expected, polygon
    rng = np.random.default_rng(3)
    # some rays of length 0
    dist = rng.uniform(0, 6, (300, 16)) * (rng.uniform(0, 1, (300, 16)) > 0.1)
    points = rng.integers(0, 20, (300, 2))
    polygons = rays_to_polygons(dist, points).numpy()[:, ::-1].transpose(0, 2, 1)
    vertices = np.trunc(polygons.astype(float))
    simple = star_shaped(vertices, points[:, ::-1].astype(float))
    assert 0.5 < simple.mean() < 1
    for v in vertices[simple]:
        area = polygon_area(v)
        green = area_in_boxes(v, v.min(axis=0) - 1, v.max(axis=0) + 1)
        assert green == pytest.approx(area, abs=1e-9)
        assert polygon_intersection_area(v, v[None])[0] == pytest.approx(area, abs=1e-9)
