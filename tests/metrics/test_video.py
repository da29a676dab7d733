"""J&F of DAVIS: worked cases counted by hand, two independent boundary F implementations, and the
DAVIS conventions for empty masks, objects that leave the frame, the statistics and the frames.

No reference installs here: ``davisinteractive`` needs Cython to build (``pip download
davisinteractive --no-binary :all:`` fails while generating its metadata, 2026-11-25), and DAVIS
2017's evaluation (github.com/davisvideochallenge/davis2017-evaluation) is no package. Both were
read (``davisinteractive/metrics/jaccard.py``; ``davis2017/metrics.py``, ``utils.py``,
``evaluation.py``): the same ``seg2bmap``, ``f_measure`` and J. So the reference is that
definition, on cases counted by hand and transcribed below in two ways that share no code with
segedu:

- :func:`_f_by_distance`: the boundary as "the 2 x 2 block of a pixel and its east, south and
  south-east neighbours is not uniform" (with the image's last row and column repeated outwards,
  which is the same as DAVIS's ``seg2bmap`` comparing inside the image only), and matching by a
  Euclidean distance transform (``distance <= r``);
- :func:`_f_by_opencv`: DAVIS's own steps, the boundary dilated by ``cv2.dilate`` with
  ``skimage.morphology.disk``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from segedu.data import SyntheticVideos
from segedu.metrics import (
    JAndF,
    boundary_f_measure,
    boundary_map,
    boundary_tolerance,
    davis_statistics,
    iou_per_class,
    j_and_f,
    region_similarity,
)


def _square(k, top=10, left=10, size=(48, 48)):
    mask = np.zeros(size, dtype=bool)
    mask[top : top + k, left : left + k] = True
    return mask


def _boundary_by_blocks(mask):
    """Boundary pixels: the 2 x 2 block with top-left corner at the pixel is not uniform, the
    image extended by repeating its last row and column."""
    padded = np.pad(mask, ((0, 1), (0, 1)), mode="edge")
    block = np.stack([padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:]])
    return block.any(axis=0) & ~block.all(axis=0)


def _f_by_distance(pred, target, radius):
    """F with matching by Euclidean distance: a boundary pixel matches when the other boundary
    has a pixel at distance <= radius."""
    pb, tb = _boundary_by_blocks(pred), _boundary_by_blocks(target)
    if not pb.any() and not tb.any():
        return 1.0
    if not pb.any() or not tb.any():
        return 0.0  # P = 1, R = 0 or P = 0, R = 1
    precision = (ndimage.distance_transform_edt(~tb)[pb] <= radius).mean()
    recall = (ndimage.distance_transform_edt(~pb)[tb] <= radius).mean()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _f_by_opencv(pred, target, radius):
    """DAVIS's steps: seg2bmap (here by blocks), cv2.dilate with skimage's disk."""
    cv2 = pytest.importorskip("cv2")
    from skimage.morphology import disk

    pb, tb = (_boundary_by_blocks(m).astype(np.uint8) for m in (pred, target))
    kernel = disk(radius).astype(np.uint8)
    p_dil, t_dil = cv2.dilate(pb, kernel), cv2.dilate(tb, kernel)
    n_p, n_t = pb.sum(), tb.sum()
    if n_p == 0 and n_t == 0:
        return 1.0
    if n_p == 0 or n_t == 0:
        return 0.0
    precision, recall = (pb * t_dil).sum() / n_p, (tb * p_dil).sum() / n_t
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _random_masks(rng, count, size):
    """Blobby random masks: smoothed noise above a random level, a few empty and full ones."""
    masks = []
    for i in range(count):
        noise = ndimage.gaussian_filter(rng.standard_normal(size), sigma=rng.uniform(1, 5))
        masks.append(noise > rng.uniform(-0.1, 0.2) * noise.std() * 3)
        if i % 17 == 0:
            masks[-1][:] = False
        if i % 23 == 0:
            masks[-1][:] = True
    return np.stack(masks)


# ------------------------------------------------------------------------------------------
# the boundary map


@pytest.mark.parametrize(("top", "left", "h", "w"), [(10, 10, 10, 10), (3, 20, 5, 12),
                                                      (30, 2, 1, 1)])
def test_the_boundary_of_a_rectangle_is_its_outline_moved_half_a_pixel_to_the_origin(top, left,
                                                                                    h, w):
    """A rectangle of rows top..top+h-1 and columns left..left+w-1: its boundary is the outline of
    rows top-1..top+h-1 and columns left-1..left+w-1, 2h + 2w pixels."""
    mask = np.zeros((48, 40), dtype=bool)
    mask[top : top + h, left : left + w] = True
    outline = np.zeros_like(mask)
    outline[top - 1 : top + h, left - 1 : left + w] = True
    outline[top : top + h - 1, left : left + w - 1] = False
    got = boundary_map(mask).numpy()
    assert np.array_equal(got, outline)
    assert got.sum() == 2 * h + 2 * w


def test_the_image_border_is_never_boundary():
    assert not boundary_map(np.ones((6, 7), dtype=bool)).any()
    mask = np.zeros((6, 7), dtype=bool)
    mask[2:, 3:] = True  # reaches the bottom and right borders
    expected = np.zeros_like(mask)
    expected[1, 2:] = True  # above the object, from its left neighbour's column
    expected[1:, 2] = True  # left of the object
    assert np.array_equal(boundary_map(mask).numpy(), expected)


def test_the_boundary_map_equals_the_block_definition_on_random_masks():
    masks = _random_masks(np.random.default_rng(0), 40, (23, 31))
    got = boundary_map(torch.from_numpy(masks)).numpy()
    assert np.array_equal(got, np.stack([_boundary_by_blocks(m) for m in masks]))


# ------------------------------------------------------------------------------------------
# J and F on worked cases


@pytest.mark.parametrize("shift", [0, 1, 2, 5, 9, 10, 14])
def test_j_of_a_square_and_its_shifted_copy(shift):
    """A k x k square against itself moved right by s pixels: the intersection is k (k - s), the
    union k (k + s), so J = (k - s) / (k + s) for s <= k, else 0; segedu's IoU agrees."""
    k = 10
    target = _square(k)
    pred = np.roll(target, shift, axis=1)
    expected = max(k - shift, 0) / (k + shift) if shift < k else 0.0
    j = region_similarity(pred, target)
    assert j.dtype == torch.float64 and j.shape == ()
    assert math.isclose(float(j), expected, rel_tol=1e-12)
    iou = iou_per_class(torch.from_numpy(pred).long(), torch.from_numpy(target).long(), 2)[1]
    assert math.isclose(float(j), float(iou), rel_tol=1e-6)


def test_j_is_one_when_both_masks_are_empty_where_iou_is_undefined():
    empty = np.zeros((2, 8, 8), dtype=bool)
    square = np.zeros_like(empty)
    square[:, 2:5, 2:5] = True
    assert region_similarity(empty, empty).tolist() == [1.0, 1.0]
    assert region_similarity(empty, square).tolist() == [0.0, 0.0]
    assert region_similarity(square, empty).tolist() == [0.0, 0.0]
    iou = iou_per_class(torch.zeros(8, 8, dtype=torch.long), torch.zeros(8, 8, dtype=torch.long), 2)
    assert math.isnan(iou[1])  # segedu's semantic IoU leaves an absent class out instead


def test_f_of_a_square_shifted_by_one_and_by_two_pixels():
    """On a 48 x 48 image the tolerance is ceil(0.008 * 67.9) = 1 pixel: the disk is the pixel
    and its 4 neighbours. The boundaries are the outlines of (k+1) x (k+1) boxes (above).

    Shift 1: every pixel of either outline has the other outline at distance <= 1, F = 1.
    Shift 2 (outline columns C0..C0+k against C0+2..C0+k+2, rows R0..R0+k): of the shifted outline,
    the top and bottom rows match except their last pixel (k each), the left column matches only
    next to the top and bottom rows (2 of k - 1), the right column not at all: 2k + 2 of 4k. By
    symmetry recall is the same, so F = (2k + 2) / (4k) = (k + 1) / (2k): 0.55 for k = 10."""
    k = 10
    target = _square(k)
    assert boundary_tolerance(48, 48) == 1
    assert float(boundary_f_measure(np.roll(target, 1, axis=1), target)) == 1.0
    f = float(boundary_f_measure(np.roll(target, 2, axis=1), target))
    assert math.isclose(f, (k + 1) / (2 * k), rel_tol=1e-12)
    # a wider tolerance forgives the shift of two
    assert float(boundary_f_measure(np.roll(target, 2, axis=1), target, bound_th=2)) == 1.0


def test_the_tolerance_grows_with_the_diagonal():
    assert boundary_tolerance(48, 48) == 1  # 0.54 pixels, rounded up
    assert boundary_tolerance(128, 128) == 2  # 1.45
    assert boundary_tolerance(480, 854) == 8  # DAVIS's 480p frames: 7.84
    assert boundary_tolerance(480, 854, 3) == 3  # >= 1: pixels


def test_f_empty_masks_follow_davis():
    """Empty prediction, object present: P = 1, R = 0, F = 0; the other way round also 0; both
    empty: F = 1."""
    empty, square = np.zeros((20, 20), dtype=bool), _square(5, 4, 4, (20, 20))
    assert float(boundary_f_measure(empty, square)) == 0.0
    assert float(boundary_f_measure(square, empty)) == 0.0
    assert float(boundary_f_measure(empty, empty)) == 1.0
    # a mask that covers the image has no boundary either
    full = np.ones((20, 20), dtype=bool)
    assert float(boundary_f_measure(full, empty)) == 1.0


@pytest.mark.parametrize(("size", "bound_th"), [((40, 56), 0.008), ((128, 128), 0.008),
                                                ((33, 47), 3)])
def test_f_equals_two_independent_implementations_on_random_masks(size, bound_th):
    rng = np.random.default_rng(sum(size))
    pred, target = _random_masks(rng, 30, size), _random_masks(rng, 30, size)
    pred[1::3] = np.roll(target[1::3], 2, axis=-1)  # near misses, where the tolerance matters
    radius = boundary_tolerance(*size, bound_th)
    got = boundary_f_measure(torch.from_numpy(pred), torch.from_numpy(target),
                             bound_th=bound_th).numpy()
    by_distance = [_f_by_distance(p, t, radius) for p, t in zip(pred, target, strict=True)]
    by_opencv = [_f_by_opencv(p, t, radius) for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(got, by_distance, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got, by_opencv, rtol=1e-12, atol=0)
    assert 0.05 < np.mean((got > 0) & (got < 1))  # not only the trivial cases


# ------------------------------------------------------------------------------------------
# statistics and the clip


def test_statistics_of_worked_cases():
    """Four frames: DAVIS's cuts are round(linspace(1, 4, 5) + 1e-10) - 1 = [0, 1, 2, 2, 3]
    (2.5 rounds up because of the 1e-10), so the first bin is frames 0..1 and the last 2..3."""
    mean, recall, decay = davis_statistics([1.0, 0.8, 0.6, 0.2])
    assert math.isclose(mean, 0.65) and recall == 0.75
    assert math.isclose(decay, (1.0 + 0.8) / 2 - (0.6 + 0.2) / 2)
    # six frames: cuts [0, 1, 3, 4, 5]: first bin frames 0..1, last 4..5
    assert math.isclose(davis_statistics([1, 1, 1, 0, 0, 1])[2], 1 - 0.5)
    assert davis_statistics([0.7]) == (0.7, 1.0, 0.0)
    assert davis_statistics([0.5, 0.5])[1] == 0.0  # recall counts scores above 0.5 only


@pytest.fixture(scope="module")
def clip():
    """A synthetic clip's id maps ``(8, 64, 64)`` with at least two objects in frame 0."""
    ds = SyntheticVideos(size=64, frames=8, length=8, seed=0, min_objects=2)
    for i in range(len(ds)):
        instances = ds[i][1]["instances"].as_subclass(torch.Tensor)
        if len(torch.unique(instances[0])) >= 3:
            return instances
    raise AssertionError("no clip with two objects in frame 0")


def test_a_perfect_prediction_scores_one(clip):
    scores = j_and_f(clip, clip)
    assert scores["object_ids"] == sorted(set(torch.unique(clip[0]).tolist()) - {0})
    for key in ("J&F-Mean", "J-Mean", "J-Recall", "F-Mean", "F-Recall"):
        assert scores[key] == 1.0
    assert scores["J-Decay"] == 0.0 and scores["F-Decay"] == 0.0
    assert scores["J"].shape == (len(scores["object_ids"]), 6)  # frames 1..6 of 8


def test_the_summary_averages_objects_and_jf_is_the_mean_of_j_and_f(clip):
    """A prediction that loses the first object halfway: per object statistics computed here
    from the per-frame scores, averaged over objects; the first and last frames are not
    scored (the first frame's error changes nothing)."""
    pred = clip.clone()
    first = int(torch.unique(clip[0])[1])
    pred[4:][pred[4:] == first] = 0
    pred[0] = 0
    scores = j_and_f(pred, clip)
    per_object = [[*davis_statistics(scores["J"][k]), *davis_statistics(scores["F"][k])]
                  for k in range(len(scores["object_ids"]))]
    means = np.mean(per_object, axis=0)
    assert scores["J-Mean"] == pytest.approx(means[0]) and scores["F-Decay"] == pytest.approx(
        means[5])
    assert scores["J&F-Mean"] == pytest.approx((means[0] + means[3]) / 2)
    assert scores["J&F-Mean"] < 1
    # the lost object scores J = 0 from frame 4 on wherever it is still in the frame
    lost = scores["J"][0, 3:]
    present = torch.stack([(clip[t] == first).any() for t in range(4, 7)])
    assert torch.equal(lost, (~present).double())
    everything = j_and_f(pred, clip, skip_first_and_last=False)
    assert everything["J"].shape[1] == 8 and everything["J"][0, 0] == 0.0


def test_an_object_that_leaves_the_frame_scores_one_when_predicted_absent():
    """Both masks empty is a perfect frame (J = F = 1); a stale mask where the object left
    scores 0 in both."""
    target = np.zeros((5, 32, 32), dtype=np.int64)
    for t in range(5):  # a 6 x 6 square moving right by 7 pixels a frame: cut by the border in
        left = 8 + 7 * t  # frame 3, gone in frame 4
        target[t, 10:16, left:left + 6] = 1
    assert (target[3] == 1).sum() == 6 * 3 and not (target[4] == 1).any()
    right = j_and_f(target, target, skip_first_and_last=False)
    assert right["J"].tolist() == [[1.0] * 5] and right["F"].tolist() == [[1.0] * 5]
    stale = target.copy()
    stale[4] = stale[3]
    wrong = j_and_f(stale, target, skip_first_and_last=False)
    assert wrong["J"][0, 4] == 0.0 and wrong["F"][0, 4] == 0.0


def test_j_and_f_accumulates_over_clips_per_object(clip):
    """Two clips of 2 and 1 objects: every object weighs the same (not every clip)."""
    single = torch.where(clip == int(torch.unique(clip[0])[1]), 1, 0)
    pred_a = clip.clone()
    pred_a[3:] = 0
    metric = JAndF()
    assert math.isnan(metric.compute()["J&F-Mean"])
    a, b = j_and_f(pred_a, clip), j_and_f(single, single)
    metric.update(pred_a, clip)
    metric.update(single, single)
    n_a = len(a["object_ids"])
    expected = (a["J&F-Mean"] * n_a + b["J&F-Mean"]) / (n_a + 1)
    assert metric.compute()["J&F-Mean"] == pytest.approx(expected)
    assert int(metric.states()["objects"]) == n_a + 1
    metric.reset()
    assert int(metric.states()["objects"]) == 0


@pytest.mark.parametrize(
    ("pred", "target", "kwargs", "error", "match"),
    [
        (np.zeros((4, 8, 8), int), np.zeros((4, 8, 9), int), {}, ValueError, "same shape"),
        (np.zeros((4, 8, 8)), np.ones((4, 8, 8), int), {}, TypeError, "integer"),
        (np.zeros((8, 8), int), np.ones((8, 8), int), {}, ValueError, r"\(T, H, W\)"),
        (np.full((4, 8, 8), 2), np.ones((4, 8, 8), int), {}, ValueError, r"ids \[2\]"),
        (np.ones((2, 8, 8), int), np.ones((2, 8, 8), int), {}, ValueError, "at least 3"),
        (np.zeros((4, 8, 8), int), np.zeros((4, 8, 8), int), {}, ValueError, "no object"),
        (np.ones((4, 8, 8), int), np.ones((4, 8, 8), int), {"bound_th": -1}, ValueError,
         "bound_th"),
        (np.ones((4, 8, 8), int), np.ones((4, 8, 8), int), {"object_ids": [0]}, ValueError,
         "object_ids"),
        ([[1]], np.ones((4, 8, 8), int), {}, TypeError, "tensor or numpy"),
    ],
)
def test_bad_input_names_the_problem(pred, target, kwargs, error, match):
    with pytest.raises(error, match=match):
        j_and_f(pred, target, **kwargs)


def test_mask_functions_reject_bad_masks():
    with pytest.raises(ValueError, match="same shape"):
        region_similarity(np.zeros((4, 4), bool), np.zeros((4, 5), bool))
    with pytest.raises(TypeError, match="binary"):
        boundary_f_measure(np.zeros((4, 4)), np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        boundary_map(np.zeros(4, bool))
