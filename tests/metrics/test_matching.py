"""matching against StarDist's stardist.matching.matching (when installed), an independent
brute force over all one-to-one assignments, and hand-computed cases.

One known difference: StarDist 0.9 computes IoUs in float32 (and numpy compares a float32 array
with a Python float threshold in float32), segedu in float64. An IoU exactly equal to ``thresh``
counts in both; but a threshold above an IoU by less than float32's resolution (IoU 7/10,
thresh 0.7000000001) still matches in StarDist and not here: see
test_thresh_a_hair_above_the_iou_matches_only_in_float32_stardist. StarDist's scores
(mean_true_score, ...) are float32 sums, hence the relative tolerance 1e-6 there.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from segedu.metrics import matching

COUNT_KEYS = ("tp", "fp", "fn", "n_true", "n_pred")
RATE_KEYS = ("precision", "recall", "accuracy", "f1")
SCORE_KEYS = ("mean_true_score", "mean_matched_score", "panoptic_quality")
THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)


def random_label_pair(rng: np.random.Generator, max_objects: int = 6, size: int = 12):
    """A ground-truth label image of random rectangles with non-consecutive ids, and a
    prediction made from it by a shift, a relabelling, dropped objects and spurious ones."""
    shape = (int(rng.integers(3, size)), int(rng.integers(3, size)))
    gt = np.zeros(shape, np.int64)
    ids = rng.choice(np.arange(1, 200), size=int(rng.integers(0, max_objects + 1)), replace=False)
    for object_id in ids:  # later rectangles may cover earlier ones, even completely
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        gt[y : y + rng.integers(1, 6), x : x + rng.integers(1, 6)] = object_id
    pred = np.roll(gt, shift=tuple(rng.integers(-1, 2, size=2)), axis=(0, 1))
    new_ids = {
        int(i): int(j)
        for i, j in zip(ids, rng.choice(np.arange(1, 500), len(ids), replace=False), strict=True)
    }
    pred = np.vectorize(lambda v: new_ids.get(int(v), 0))(pred) if len(ids) else pred
    for object_id in rng.choice(list(new_ids.values()) or [0], size=int(rng.integers(0, 2))):
        pred[pred == object_id] = 0  # a missed object
    for _ in range(int(rng.integers(0, 3))):  # spurious objects
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        pred[y : y + rng.integers(1, 4), x : x + rng.integers(1, 4)] = rng.integers(500, 600)
    return gt, pred


def brute_force(gt: np.ndarray, pred: np.ndarray, thresh: float) -> dict:
    """Try every assignment of min(n_true, n_pred) pairs: keep the one with the most pairs with
    IoU >= thresh, then the largest IoU over all its pairs (StarDist's rule); written with
    plain Python loops and sets, independently of segedu's bincount and scipy."""
    true_ids = sorted(set(gt.ravel().tolist()) - {0})
    pred_ids = sorted(set(pred.ravel().tolist()) - {0})
    true_sets = [set(np.flatnonzero(gt.ravel() == i).tolist()) for i in true_ids]
    pred_sets = [set(np.flatnonzero(pred.ravel() == j).tolist()) for j in pred_ids]
    iou = [[len(t & p) / len(t | p) for p in pred_sets] for t in true_sets]
    n_true, n_pred = len(true_ids), len(pred_ids)
    best = (0, 0.0, 0, 0.0)  # (pairs above, IoU of all pairs, tp, IoU of the tp pairs)
    if n_true <= n_pred:
        assignments = (
            [(i, j) for i, j in enumerate(cols)]
            for cols in itertools.permutations(range(n_pred), n_true)
        )
    else:
        assignments = (
            [(i, j) for j, i in enumerate(rows)]
            for rows in itertools.permutations(range(n_true), n_pred)
        )
    for pairs in assignments:
        above = [iou[i][j] for i, j in pairs if iou[i][j] >= thresh]
        candidate = (len(above), sum(iou[i][j] for i, j in pairs), len(above), sum(above))
        if candidate[:2] > best[:2]:
            best = candidate
    tp, score = best[2], best[3]
    fp, fn = n_pred - tp, n_true - tp
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_true": n_true,
        "n_pred": n_pred,
        "precision": tp / (tp + fp) if tp else 0.0,
        "recall": tp / (tp + fn) if tp else 0.0,
        "accuracy": tp / (tp + fp + fn) if tp else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        "mean_true_score": score / n_true if n_true else 0.0,
        "mean_matched_score": score / tp if tp else 0.0,
        "panoptic_quality": score / (tp + fp / 2 + fn / 2) if tp + fp + fn else 0.0,
    }


def assert_same(ours: dict, expected: dict, rel: float = 1e-12) -> None:
    for key in COUNT_KEYS:
        assert ours[key] == int(expected[key]) and isinstance(ours[key], int), key
    for key in RATE_KEYS + SCORE_KEYS:
        assert ours[key] == pytest.approx(float(expected[key]), rel=rel, abs=rel), key
        assert isinstance(ours[key], float), key


def test_random_label_images_match_brute_force():
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 120:
        gt, pred = random_label_pair(rng, max_objects=5, size=9)
        results = matching(torch.from_numpy(gt), torch.from_numpy(pred), thresh=THRESHOLDS)
        for thresh, ours in zip(THRESHOLDS, results, strict=True):
            assert ours["thresh"] == thresh
            assert_same(ours, brute_force(gt, pred, thresh))
        checked += 1


def test_random_label_images_match_stardist():
    stardist_matching = pytest.importorskip("stardist.matching")
    rng = np.random.default_rng(1)
    for _ in range(150):
        gt, pred = random_label_pair(rng)
        theirs = stardist_matching.matching(gt, pred, thresh=THRESHOLDS)
        ours = matching(gt, pred, thresh=list(THRESHOLDS))  # numpy input works too
        for mine, reference in zip(ours, theirs, strict=True):
            assert_same(mine, reference._asdict(), rel=1e-6)  # StarDist's IoUs are float32
        single = stardist_matching.matching(gt, pred, thresh=0.5)
        assert_same(matching(gt, pred), single._asdict(), rel=1e-6)


def test_thresh_a_hair_above_the_iou_matches_only_in_float32_stardist():
    # gt object: 10 pixels; prediction: 7 of them -> IoU = 7 / 10 exactly
    gt = np.array([1] * 10 + [0] * 2)
    pred = np.array([4] * 7 + [0] * 5)
    assert matching(gt, pred, thresh=0.7)["tp"] == 1  # IoU >= thresh: a match
    assert matching(gt, pred, thresh=0.7000000001)["tp"] == 0  # 7/10 < 0.7000000001
    stardist_matching = pytest.importorskip("stardist.matching")
    assert stardist_matching.matching(gt, pred, thresh=0.7).tp == 1
    # StarDist compares float32(7 / 10) with float32(0.7000000001): equal, so a match
    assert np.float32(0.7000000001) == np.float32(7) / np.float32(10)
    assert stardist_matching.matching(gt, pred, thresh=0.7000000001).tp == 1


def test_iou_exactly_half():
    # gt object 1: 4 pixels; predicted object 9 covers 2 of them and nothing else:
    # IoU = 2 / (4 + 2 - 2) = 1/2, a match at thresh 0.5 (>=), none above
    gt = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])
    pred = torch.tensor([[9, 9, 0, 0], [0, 0, 0, 0]])
    at, above = matching(gt, pred, thresh=[0.5, 0.51])
    assert (at["tp"], at["fp"], at["fn"], at["mean_matched_score"]) == (1, 0, 0, 0.5)
    assert (above["tp"], above["fp"], above["fn"]) == (0, 1, 1)


def test_one_prediction_over_two_objects_is_matched_once():
    # gt [1, 1, 2, 2], pred [5, 5, 5, 5]: IoU(1, 5) = IoU(2, 5) = 2 / 4 = 1/2.
    # One to one: tp 1, fp 0, fn 1; precision 1, recall 1/2, accuracy 1/2, f1 2/3;
    # matched IoU sum 1/2: mean_matched 1/2, mean_true 1/4, PQ 0.5 / (1 + 0 + 1/2) = 1/3.
    result = matching(torch.tensor([1, 1, 2, 2]), torch.tensor([5, 5, 5, 5]))
    expected = {
        "tp": 1,
        "fp": 0,
        "fn": 1,
        "n_true": 2,
        "n_pred": 1,
        "precision": 1.0,
        "recall": 0.5,
        "accuracy": 0.5,
        "f1": 2 / 3,
        "mean_true_score": 0.25,
        "mean_matched_score": 0.5,
        "panoptic_quality": 1 / 3,
    }
    assert_same(result, expected)


def test_assignment_maximises_the_number_of_matches_not_greedy_iou():
    # pixels 0..11; gt A = 1 on 0..5, B = 2 on 6..11; pred Y = 7 on pixel 0, X = 3 on 1..9.
    # IoU(A, X) = 5 / (6 + 9 - 5) = 1/2, IoU(B, X) = 4 / (6 + 9 - 4) = 4/11,
    # IoU(A, Y) = 1 / 6, IoU(B, Y) = 0.
    # At thresh 0.15 a greedy "best IoU first" takes A-X and leaves B alone (1 match);
    # the optimum is A-Y and B-X: 2 matches, mean matched IoU (1/6 + 4/11) / 2 = 35/132.
    gt = torch.tensor([1] * 6 + [2] * 6)
    pred = torch.tensor([7] + [3] * 9 + [0] * 2)
    result = matching(gt, pred, thresh=0.15)
    assert (result["tp"], result["fp"], result["fn"]) == (2, 0, 0)
    assert result["mean_matched_score"] == pytest.approx(35 / 132)
    # at 0.4, only A-X qualifies (B-X: 4/11 < 0.4): 1 match with IoU 1/2
    result = matching(gt, pred, thresh=0.4)
    assert (result["tp"], result["fp"], result["fn"], result["mean_matched_score"]) == (
        1,
        1,
        1,
        0.5,
    )


def test_tie_break_counts_the_iou_of_unmatched_pairs_too_as_stardist():
    # gt: object 1 on pixel 7, object 2 on {2, 4, 5, 6};
    # pred: object 1 on {0, 2, 4, 7}, object 2 on {1, 3, 5}.
    # IoU(g1, p1) = 1 / 4, IoU(g1, p2) = 0, IoU(g2, p1) = 2 / 6 = 1/3, IoU(g2, p2) = 1 / 6.
    # At thresh 0.2 one match at most. Assignment {g1-p1, g2-p2} has IoU 1/4 + 1/6 = 5/12 in
    # total, {g2-p1, g1-p2} has 1/3: StarDist's cost prefers the first, so the match is g1-p1
    # with IoU 1/4, although g2-p1 (1/3) would give a higher mean_matched_score.
    gt = torch.tensor([0, 0, 2, 0, 2, 2, 2, 1, 0])
    pred = torch.tensor([1, 2, 1, 2, 1, 2, 0, 1, 0])
    result = matching(gt, pred, thresh=0.2)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 1, 1)
    assert result["mean_matched_score"] == pytest.approx(1 / 4)
    assert result["panoptic_quality"] == pytest.approx(0.25 / 2)  # 1/4 over 1 + 1/2 + 1/2


def test_labels_need_not_be_consecutive():
    # ids 3, 7, 100 in gt and 42, 3, 1000 in pred; the pairs: 3 <-> 42 (IoU 1), 7 <-> 3 (IoU 1),
    # 100 <-> 1000 (IoU 2 / 3): the same as with ids 1, 2, 3.
    gt = torch.tensor([[3, 3, 0, 7], [100, 100, 100, 0]])
    pred = torch.tensor([[42, 42, 0, 3], [1000, 1000, 0, 0]])
    result = matching(gt, pred)
    assert (result["tp"], result["fp"], result["fn"]) == (3, 0, 0)
    assert result["mean_matched_score"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    relabelled = matching(
        torch.tensor([[1, 1, 0, 2], [3, 3, 3, 0]]), torch.tensor([[1, 1, 0, 2], [3, 3, 0, 0]])
    )
    assert result == relabelled
    # a label image without background pixels: every pixel belongs to an object
    full = matching(torch.tensor([5, 5, 6]), torch.tensor([5, 5, 6]))
    assert (full["tp"], full["n_true"], full["accuracy"]) == (2, 2, 1.0)


def test_empty_cases_follow_stardist():
    zeros = torch.zeros(4, 4, dtype=torch.long)
    objects = torch.tensor([[1, 1, 0, 0], [0, 0, 2, 2], [0, 0, 0, 0], [3, 0, 0, 0]])
    zero_rates = dict.fromkeys(RATE_KEYS + SCORE_KEYS, 0.0)
    # nothing at all: every count 0, and every rate 0 (StarDist defines 0 / 0 as 0)
    assert_same(
        matching(zeros, zeros), {"tp": 0, "fp": 0, "fn": 0, "n_true": 0, "n_pred": 0, **zero_rates}
    )
    # no prediction: 3 misses
    assert_same(
        matching(objects, zeros),
        {"tp": 0, "fp": 0, "fn": 3, "n_true": 3, "n_pred": 0, **zero_rates},
    )
    # no ground truth: 3 false positives
    assert_same(
        matching(zeros, objects),
        {"tp": 0, "fp": 3, "fn": 0, "n_true": 0, "n_pred": 3, **zero_rates},
    )
    # an empty image (no pixels at all)
    empty = torch.zeros(0, 5, dtype=torch.long)
    assert matching(empty, empty)["n_true"] == 0
    stardist_matching = pytest.importorskip("stardist.matching")
    for gt, pred in ((zeros, zeros), (objects, zeros), (zeros, objects)):
        assert_same(
            matching(gt, pred), stardist_matching.matching(gt.numpy(), pred.numpy())._asdict()
        )


def test_perfect_prediction_and_thresh_zero():
    gt = torch.tensor([[1, 1, 0], [0, 2, 2], [3, 0, 0]])
    for thresh in (0.5, 1.0):  # IoU 1 >= 1: a perfect prediction matches at thresh 1
        result = matching(gt, gt * 10, thresh=thresh)
        assert (result["tp"], result["accuracy"], result["panoptic_quality"]) == (3, 1.0, 1.0)
    # thresh 0 pairs every object with some object, even a disjoint one (as StarDist does)
    disjoint = matching(torch.tensor([1, 0]), torch.tensor([0, 1]), thresh=0.0)
    assert (disjoint["tp"], disjoint["mean_matched_score"]) == (1, 0.0)


def test_3d_and_numpy_inputs():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 4, size=(3, 4, 5))
    pred = np.where(rng.random(gt.shape) < 0.8, gt, 0)
    as_numpy = matching(gt, pred, thresh=0.3)
    assert as_numpy == matching(torch.from_numpy(gt), torch.from_numpy(pred), thresh=0.3)
    assert as_numpy == matching(gt.astype(np.uint16), pred.astype(np.uint8), thresh=0.3)
    assert matching(gt, pred, thresh=np.float64(0.3)) == as_numpy  # a numpy number is one threshold
    assert isinstance(matching(gt, pred, thresh=(0.3,)), list)
    assert math.isclose(as_numpy["recall"], as_numpy["tp"] / as_numpy["n_true"])


def test_bad_inputs_give_clear_errors():
    labels = torch.zeros(3, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"same shape, got \(3, 3\) and \(3, 2\)"):
        matching(labels, labels[:, :2])
    with pytest.raises(
        TypeError, match="gt_labels must hold integer object labels, got torch.float32"
    ):
        matching(labels.float(), labels)
    with pytest.raises(TypeError, match="pred_labels must hold integer object labels, got float64"):
        matching(labels.numpy(), labels.numpy().astype(float))
    with pytest.raises(ValueError, match="pred_labels has negative labels"):
        matching(labels, labels - 1)
    with pytest.raises(TypeError, match="must be a tensor"):
        matching([[0, 1]], labels)
    with pytest.raises(ValueError, match=r"thresh must lie in \[0, 1\], got 1.5"):
        matching(labels, labels, thresh=1.5)
    with pytest.raises(ValueError, match=r"thresh must lie in \[0, 1\], got -0.1"):
        matching(labels, labels, thresh=[0.5, -0.1])
    with pytest.raises(TypeError, match="thresh must be a number"):
        matching(labels, labels, thresh="0.5")
    with pytest.raises(TypeError, match="thresh must be a number"):
        matching(labels, labels, thresh=True)
