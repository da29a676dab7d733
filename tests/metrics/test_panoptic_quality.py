"""Panoptic quality: against torchmetrics, against a port of panopticapi, and by hand.

References:

- ``torchmetrics.functional.detection.panoptic_quality`` and
  ``torchmetrics.detection.PanopticQuality`` on random ``(B, H, W, 2)`` maps without predicted
  void (where the two rules agree): equal per class and on average;
- ``panopticapi_reference`` (a port of COCO's panopticapi, this folder) on random maps with void
  in the prediction, and on random COCO JSON + PNG files with crowd regions;
- hand-built cases whose values are derived in the comments.

Every documented difference with torchmetrics / panopticapi has its own test (``*_differs_*``).
"""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.detection import PanopticQuality as TMPanopticQuality
from torchmetrics.functional.detection import panoptic_quality as tm_panoptic_quality

from segedu.metrics.panoptic_quality import PanopticQuality, panoptic_quality
from segedu.metrics.panoptic_quality_coco import panoptic_quality_coco, rgb_to_id

from . import panopticapi_reference as ref

THINGS = {0, 2, 5}
STUFFS = {1, 3}
VOIDS = [-1, 4, 255]  # neither things nor stuffs: void
KNOWN = sorted(THINGS | STUFFS)
TM_ORDER = sorted(THINGS) + sorted(STUFFS)  # torchmetrics' per-class order: things, then stuffs
# torchmetrics divides its int64 pixel counts with ``/``, which gives float32: each of its IoUs
# is rounded to float32 (relative error <= 6e-8) before it is added to its float64 sum. So its
# figures agree with panopticapi's float64 ones to about 1e-7, not 1e-12 (segedu vs the
# panopticapi port: 1e-12).
TM_TOL = 1e-6
KEYS = ["pq", "sq", "rq", "pq_things", "sq_things", "rq_things", "pq_stuff", "sq_stuff", "rq_stuff"]


# --------------------------------------------------------------------------------------------
# random panoptic maps


def _paint(h, w, background, rectangles):
    """``(H, W, 2)`` int64 map: ``background`` (category, instance), then rectangles on top."""
    out = torch.empty(h, w, 2, dtype=torch.int64)
    out[..., 0], out[..., 1] = background
    for y0, y1, x0, x1, category, instance in rectangles:
        out[y0:y1, x0:x1, 0] = category
        out[y0:y1, x0:x1, 1] = instance
    return out


def _random_category(rng, void_prob):
    if rng.random() < void_prob:
        return int(rng.choice(VOIDS))
    return (
        int(rng.choice(sorted(THINGS))) if rng.random() < 0.6 else int(rng.choice(sorted(STUFFS)))
    )


def _random_pair(rng, h, w, pred_void):
    """A (pred, target) pair of ``(H, W, 2)`` maps of overlapping rectangles.

    The prediction moves, resizes, drops and relabels the target's rectangles and adds some of
    its own, so that IoUs spread around 0.5. Thing instance ids repeat (a segment may be two
    rectangles), stuff instance ids vary (stuff is one segment whatever they are). Without
    ``pred_void``, every predicted category is a thing or a stuff.
    """
    background = (_random_category(rng, 0.3), int(rng.integers(0, 3)))
    target_rects = []
    for _ in range(rng.integers(0, 7)):
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, x1 = int(rng.integers(y0 + 1, h + 1)), int(rng.integers(x0 + 1, w + 1))
        target_rects.append((y0, y1, x0, x1, _random_category(rng, 0.2), int(rng.integers(0, 3))))
    pred_void_prob = 0.25 if pred_void else 0.0
    pred_background = background
    if background[0] not in KNOWN and not pred_void:
        pred_background = (int(rng.choice(sorted(STUFFS))), 0)
    pred_rects = []
    for y0, y1, x0, x1, category, instance in target_rects:
        if rng.random() < 0.15:
            continue  # missed
        jitter = rng.integers(-2, 3, size=4)
        y0, y1 = sorted((int(np.clip(y0 + jitter[0], 0, h)), int(np.clip(y1 + jitter[1], 0, h))))
        x0, x1 = sorted((int(np.clip(x0 + jitter[2], 0, w)), int(np.clip(x1 + jitter[3], 0, w))))
        if rng.random() < 0.15 or (category not in KNOWN and not pred_void):
            category = _random_category(rng, pred_void_prob)
        instance = (instance + 7 * int(rng.integers(0, 2))) % 10  # ids need not agree
        pred_rects.append((y0, y1, x0, x1, category, instance))
    for _ in range(rng.integers(0, 3)):  # extra predictions
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, x1 = int(rng.integers(y0 + 1, h + 1)), int(rng.integers(x0 + 1, w + 1))
        pred_rects.append(
            (y0, y1, x0, x1, _random_category(rng, pred_void_prob), int(rng.integers(0, 3)))
        )
    if rng.random() < 0.1:  # sometimes the prediction has nothing of a class the target has
        drop = int(rng.choice(KNOWN))
        pred_rects = [r for r in pred_rects if r[4] != drop]
    return _paint(h, w, pred_background, pred_rects), _paint(h, w, background, target_rects)


def _random_batch(rng, pred_void):
    b, h, w = int(rng.integers(1, 4)), int(rng.integers(4, 17)), int(rng.integers(4, 17))
    pairs = [_random_pair(rng, h, w, pred_void) for _ in range(b)]
    return torch.stack([p for p, _ in pairs]), torch.stack([t for _, t in pairs])


# --------------------------------------------------------------------------------------------
# the references


def _torchmetrics(pred, target, allow_unknown=False):
    """torchmetrics' per-class (pq, sq, rq) rows in segedu's category order, and its averages."""
    per_class = tm_panoptic_quality(
        pred, target, THINGS, STUFFS, allow_unknown, return_sq_and_rq=True, return_per_class=True
    )
    averages = tm_panoptic_quality(
        pred, target, THINGS, STUFFS, allow_unknown, return_sq_and_rq=True
    )
    rows = {category: per_class[TM_ORDER.index(category)].tolist() for category in KNOWN}
    return rows, averages.tolist()


def _torchmetrics_counts(pred, target, allow_unknown=False):
    """torchmetrics' accumulated states: {category: (iou_sum, tp, fp, fn)}."""
    metric = TMPanopticQuality(
        things=THINGS, stuffs=STUFFS, allow_unknown_preds_category=allow_unknown
    )
    metric.update(pred, target)
    return {
        category: (
            float(metric.iou_sum[i]),
            int(metric.true_positives[i]),
            int(metric.false_positives[i]),
            int(metric.false_negatives[i]),
        )
        for i, category in ((TM_ORDER.index(c), c) for c in KNOWN)
    }


def _coco_image(panoptic, rng=None):
    """A ``(H, W, 2)`` map as panopticapi sees it: segment-id array and segments_info.

    Segment ids are random in [1, 256^3) (0 is void) when ``rng`` is given, else 1, 2, ...
    """
    cat = panoptic[..., 0].numpy()
    inst = np.where(np.isin(cat, sorted(STUFFS)), 0, panoptic[..., 1].numpy())
    known = np.isin(cat, KNOWN)
    pairs = sorted({(int(c), int(i)) for c, i in zip(cat[known], inst[known], strict=True)})
    if rng is None:
        ids = list(range(1, len(pairs) + 1))
    else:
        # the same draws as rng.choice(np.arange(1, 256**3), ...), without building that array
        ids = [int(v) + 1 for v in rng.choice(256**3 - 1, size=len(pairs), replace=False)]
    segment = np.zeros(cat.shape, dtype=np.int64)
    info = []
    for seg_id, (c, i) in zip(ids, pairs, strict=True):
        mask = known & (cat == c) & (inst == i)
        segment[mask] = seg_id
        info.append({"id": seg_id, "category_id": c, "iscrowd": 0, "area": int(mask.sum())})
    return segment, info


CATEGORIES = {c: {"id": c, "isthing": int(c in THINGS)} for c in KNOWN}


def _port_results(stat, categories=CATEGORIES):
    """panopticapi's results, with NaN where its pq_average divides by zero (no category)."""
    results = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        try:
            results[name], per_class = stat.pq_average(categories, isthing)
        except ZeroDivisionError:
            results[name] = {"pq": math.nan, "sq": math.nan, "rq": math.nan, "n": 0}
            per_class = {}
        if isthing is None:
            results["per_class"] = per_class
    return results


def _port(pred, target):
    stat = ref.PQStat()
    for p, t in zip(pred, target, strict=True):
        gt_ids, gt_info = _coco_image(t)
        pred_ids, pred_info = _coco_image(p)
        stat += ref.image_pq_stat(
            gt_ids, pred_ids, {"segments_info": gt_info}, {"segments_info": pred_info}, CATEGORIES
        )
    return stat, _port_results(stat)


def _close(a, b, tol=1e-12):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def _assert_equal_to_port(ours, stat, port):
    for key, (name, field) in zip(
        KEYS, [(n, f) for n in ("All", "Things", "Stuff") for f in ("pq", "sq", "rq")], strict=True
    ):
        assert _close(ours[key], port[name][field]), (key, ours[key], port[name][field])
    assert (ours["n"], ours["n_things"], ours["n_stuff"]) == tuple(
        port[n]["n"] for n in ("All", "Things", "Stuff")
    )
    for category in KNOWN:
        mine, theirs = ours["per_class"][category], stat[category]
        assert (mine["tp"], mine["fp"], mine["fn"]) == (theirs.tp, theirs.fp, theirs.fn), category
        if mine["tp"] + mine["fp"] + mine["fn"]:
            for field in ("pq", "sq", "rq"):
                assert _close(mine[field], port["per_class"][category][field]), (category, field)
        else:  # documented: NaN here, 0 in panopticapi
            assert all(math.isnan(mine[f]) for f in ("pq", "sq", "rq"))
            assert port["per_class"].get(category, {"pq": 0.0})["pq"] == 0.0


# --------------------------------------------------------------------------------------------
# random cases


@pytest.mark.parametrize("seed", range(6))
def test_random_against_torchmetrics(seed):
    """120 random batches without predicted void: equal to torchmetrics (function and class)."""
    rng = np.random.default_rng(seed)
    tm_metric = TMPanopticQuality(things=THINGS, stuffs=STUFFS, return_sq_and_rq=True)
    metric = PanopticQuality(things=THINGS, stuffs=STUFFS)
    for _ in range(20):
        pred, target = _random_batch(rng, pred_void=False)
        ours = panoptic_quality(pred, target, THINGS, STUFFS)
        rows, averages = _torchmetrics(pred, target)
        assert all(
            _close(o, t, TM_TOL)
            for o, t in zip([ours[k] for k in ("pq", "sq", "rq")], averages, strict=True)
        )
        counts = _torchmetrics_counts(pred, target)
        for category in KNOWN:
            mine = ours["per_class"][category]
            iou_sum, tp, fp, fn = counts[category]
            assert (mine["tp"], mine["fp"], mine["fn"]) == (tp, fp, fn)
            if tp + fp + fn:
                assert _close(mine["sq"] * tp, iou_sum, TM_TOL)
                assert all(
                    _close(mine[f], v, TM_TOL)
                    for f, v in zip(("pq", "sq", "rq"), rows[category], strict=True)
                )
            else:  # documented difference: NaN here, 0 in torchmetrics
                assert math.isnan(mine["pq"]) and rows[category] == [0.0, 0.0, 0.0]
        # the accumulating classes agree batch after batch
        tm_metric.update(pred, target)
        metric.update(pred, target)
        expected = tm_metric.compute().tolist()
        got = metric.compute_all()
        assert all(
            _close(got[k], e, TM_TOL) for k, e in zip(("pq", "sq", "rq"), expected, strict=True)
        )
        assert _close(float(metric.compute()), expected[0], TM_TOL)


@pytest.mark.parametrize("seed", range(6))
def test_random_against_panopticapi_port(seed):
    """120 random batches, void in the prediction too: equal to panopticapi."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(20):
        pred, target = _random_batch(rng, pred_void=bool(rng.random() < 0.7))
        ours = panoptic_quality(pred, target, THINGS, STUFFS)
        stat, port = _port(pred, target)
        _assert_equal_to_port(ours, stat, port)


def test_random_predicted_void_differs_from_torchmetrics_only_as_documented():
    """With void in the prediction, torchmetrics leaves the ground truth's pixels on predicted
    void out of the union and counts no FN for a segment mostly on predicted void. So a category
    can differ only when one of its ground-truth segments touches predicted void; all others
    agree exactly, and the difference does show up."""
    rng = np.random.default_rng(7)
    differing = 0
    for _ in range(60):
        pred, target = _random_batch(rng, pred_void=True)
        ours = panoptic_quality(pred, target, THINGS, STUFFS)
        counts = _torchmetrics_counts(pred, target, allow_unknown=True)
        pred_void = ~torch.isin(pred[..., 0], torch.tensor(KNOWN))
        for category in KNOWN:
            mine = ours["per_class"][category]
            iou_sum, tp, fp, fn = counts[category]
            same = (mine["tp"], mine["fp"], mine["fn"]) == (tp, fp, fn) and _close(
                mine["sq"] * mine["tp"] if mine["tp"] else 0.0, iou_sum, TM_TOL
            )
            touches = bool((pred_void & (target[..., 0] == category)).any())
            assert same or touches, category
            differing += not same
    assert differing > 0


def _write_coco(folder, name, images, categories):
    """Write ``<folder>/<name>.json`` and the PNGs ``<folder>/<name>/<k>.png``; return the path."""
    (folder / name).mkdir(parents=True)
    annotations = []
    for image_id, (segment, info) in enumerate(images, start=1):
        rgb = np.stack([segment % 256, segment // 256 % 256, segment // 256**2], axis=-1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / name / f"{image_id}.png")
        annotations.append(
            {"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": info}
        )
    path = folder / f"{name}.json"
    path.write_text(
        json.dumps({"categories": list(categories.values()), "annotations": annotations})
    )
    return path


def test_random_coco_with_crowd_against_panopticapi_port(tmp_path):
    """100 random COCO panoptic datasets (1-3 images, JSON + PNG, random 24-bit segment ids,
    crowd regions, void in both): equal to panopticapi's pq_compute."""
    rng = np.random.default_rng(11)
    crowd_count = 0
    for case in range(100):
        gt_images, pred_images = [], []
        for _ in range(int(rng.integers(1, 4))):
            pred, target = _random_pair(
                rng, int(rng.integers(4, 13)), int(rng.integers(4, 13)), True
            )
            segment, info = _coco_image(target, rng)
            # at most one crowd segment per thing category and image, as in COCO
            for category in THINGS:
                candidates = [s for s in info if s["category_id"] == category]
                if candidates and rng.random() < 0.5:
                    candidates[int(rng.integers(len(candidates)))]["iscrowd"] = 1
                    crowd_count += 1
            gt_images.append((segment, info))
            pred_images.append(_coco_image(pred, rng))
        folder = tmp_path / str(case)
        gt_json = _write_coco(folder, "gt", gt_images, CATEGORIES)
        pred_json = _write_coco(folder, "pred", pred_images, CATEGORIES)
        ours = panoptic_quality_coco(gt_json, pred_json)
        matched = [
            (g, p)
            for g, p in zip(
                json.loads(gt_json.read_text())["annotations"],
                json.loads(pred_json.read_text())["annotations"],
                strict=True,
            )
        ]
        stat = ref.pq_compute_single_core(
            matched, str(folder / "gt"), str(folder / "pred"), CATEGORIES
        )
        _assert_equal_to_port(ours, stat, _port_results(stat))
        if ours["n_things"] and ours["n_stuff"]:  # pq_compute itself (files) when it can average
            full = ref.pq_compute(str(gt_json), str(pred_json))
            assert _close(ours["pq"], full["All"]["pq"])
    assert crowd_count > 50


def test_coco_export_round_trip(tmp_path):
    """Scenes exported by segedu.data.export_coco_panoptic (ground truth and a perturbed
    prediction): the COCO variant equals panoptic_quality on the tensors (category = class + 1)
    and panopticapi."""
    from segedu.data import SyntheticScenes
    from segedu.data.coco_export import export_coco_panoptic

    scenes = SyntheticScenes(size=(24, 32), length=4, seed=3, max_objects=6)
    things = set(scenes.thing_classes)
    stuffs = set(range(len(scenes.classes))) - things

    class Perturbed(torch.utils.data.Dataset):
        classes, thing_classes = scenes.classes, scenes.thing_classes

        def __len__(self):
            return len(scenes)

        def __getitem__(self, i):
            image, target = scenes[i]
            panoptic = target["panoptic"].as_subclass(torch.Tensor).clone()
            panoptic = torch.roll(panoptic, shifts=i, dims=2)  # shift right by i pixels
            return image, {**target, "panoptic": panoptic}

    gt_json = export_coco_panoptic(scenes, tmp_path / "gt")
    pred_json = export_coco_panoptic(Perturbed(), tmp_path / "pred")
    gt_png = gt_json.parent / "panoptic_train"
    pred_png = pred_json.parent / "panoptic_train"
    ours = panoptic_quality_coco(gt_json, pred_json, gt_png, pred_png)

    def hwc(panoptic):
        return panoptic.as_subclass(torch.Tensor).permute(1, 2, 0)

    target = torch.stack([hwc(scenes[i][1]["panoptic"]) for i in range(4)])
    pred = torch.stack([hwc(Perturbed()[i][1]["panoptic"]) for i in range(4)])
    direct = panoptic_quality(pred, target, things, stuffs)
    for key in KEYS:
        assert _close(ours[key], direct[key]), key
    for c in range(len(scenes.classes)):
        assert {
            k: v for k, v in ours["per_class"][c + 1].items() if not math.isnan(v)
        } == pytest.approx(
            {k: v for k, v in direct["per_class"][c].items() if not math.isnan(v)}, abs=1e-12
        )
    assert 0 < ours["pq"] < 1
    full = ref.pq_compute(str(gt_json), str(pred_json), str(gt_png), str(pred_png))
    assert _close(ours["pq"], full["All"]["pq"]) and _close(ours["pq_things"], full["Things"]["pq"])
    # the ground truth against itself is perfect
    assert panoptic_quality_coco(gt_json, gt_json, gt_png, gt_png)["pq"] == 1.0


# --------------------------------------------------------------------------------------------
# hand-built cases


def _row(*pixels):
    """A ``(1, W, 2)`` image from ``(category, instance)`` pairs, one per pixel."""
    return torch.tensor([list(pixels)])


def test_perfect_prediction():
    # two car instances (thing 2) on road (stuff 1): every segment matched with IoU 1
    target = _row((2, 1), (2, 1), (1, 0), (2, 2), (1, 0))
    result = panoptic_quality(target, target, THINGS, STUFFS)
    assert result["pq"] == result["sq"] == result["rq"] == 1.0
    assert result["per_class"][2] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "tp": 2, "fp": 0, "fn": 0}
    assert result["n"] == 2 and result["n_things"] == 1 and result["n_stuff"] == 1


def test_iou_exactly_one_half_is_no_match():
    # target: thing 2 on all 20 pixels; prediction: thing 2 on 0..9, stuff 1 on 10..19.
    # thing: I = 10, U = 20 + 10 - 10 = 20, IoU = 0.5, not > 0.5 -> FN 1, FP 1.
    # stuff: no ground truth -> FP 1. Every PQ is 0, over n = 2 categories.
    target = _row(*[(2, 1)] * 20)
    pred = _row(*[(2, 1)] * 10, *[(1, 0)] * 10)
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["per_class"][2] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 1, "fn": 1}
    assert result["per_class"][1] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 1, "fn": 0}
    assert result["pq"] == 0.0 and result["n"] == 2
    assert tm_panoptic_quality(pred[None], target[None], THINGS, STUFFS).item() == 0.0


def test_iou_just_above_one_half_is_a_match():
    # target: thing 2 on 0..18 (19 px), stuff 1 on 19; prediction: thing 2 on 0..9 (10 px),
    # stuff 1 on 10..19. thing: I = 10, U = 19 + 10 - 10 = 19, IoU = 10/19 > 1/2 -> TP,
    # PQ = SQ = 10/19, RQ = 1. stuff: I = 1, U = 1 + 10 - 1 = 10, IoU 0.1 -> FN 1, FP 1, PQ 0.
    # mean PQ = (10/19 + 0) / 2 = 5/19, SQ = (10/19 + 0) / 2, RQ = (1 + 0) / 2.
    target = _row(*[(2, 1)] * 19, (1, 0))
    pred = _row(*[(2, 1)] * 10, *[(1, 0)] * 10)
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["per_class"][2]["tp"] == 1 and result["per_class"][2]["pq"] == pytest.approx(
        10 / 19
    )
    assert result["pq"] == pytest.approx(5 / 19) and result["rq"] == 0.5
    assert result["pq_things"] == pytest.approx(10 / 19) and result["pq_stuff"] == 0.0
    assert tm_panoptic_quality(pred[None], target[None], THINGS, STUFFS).item() == pytest.approx(
        5 / 19
    )


def test_union_leaves_out_predicted_pixels_on_void():
    # target: void (255) on 0..3, thing 2 on 4..9; prediction: thing 2 on all 10 pixels.
    # I = 6, U = 6 + 10 - 6 - 4 (predicted pixels on void) = 6, IoU = 1 (0.6 without the rule).
    target = _row(*[(255, 0)] * 4, *[(2, 1)] * 6)
    pred = _row(*[(2, 1)] * 10)
    assert panoptic_quality(pred, target, THINGS, STUFFS)["pq"] == 1.0


def test_prediction_mostly_on_void_is_no_false_positive():
    # target: void on 0..5, stuff 1 on 6..9; prediction: thing 2 on 0..6 (7 px, 6 on void),
    # stuff 1 on 7..9. The thing: unmatched, 6/7 > 1/2 on void -> ignored (no FP), so category 2
    # never occurs (NaN, not averaged). stuff: I = 3, U = 4 + 3 - 3 = 4, IoU 3/4 -> PQ 3/4.
    target = _row(*[(255, 0)] * 6, *[(1, 0)] * 4)
    pred = _row(*[(2, 1)] * 7, *[(1, 0)] * 3)
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["per_class"][2]["fp"] == 0 and math.isnan(result["per_class"][2]["pq"])
    assert result["pq"] == 0.75 and result["n"] == 1 and math.isnan(result["pq_things"])


def test_prediction_half_on_void_is_a_false_positive():
    # target: void on 0..1, stuff 1 on 2..9; prediction: thing 2 on 0..3 (4 px, 2 on void: 2/4
    # is not > 1/2 -> FP), stuff 1 on 4..9: I = 6, U = 8 + 6 - 6 = 8, IoU 3/4.
    # mean PQ = (0 + 3/4) / 2 = 3/8.
    target = _row(*[(255, 0)] * 2, *[(1, 0)] * 8)
    pred = _row(*[(2, 1)] * 4, *[(1, 0)] * 6)
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["per_class"][2]["fp"] == 1 and result["pq"] == 0.375


def test_stuff_with_several_instance_ids_is_one_segment():
    # stuff 1 everywhere in both; the prediction splits it into instance ids 1 and 2 and the
    # target uses ids 0 and 5: still one segment each, IoU 1, PQ 1 (two segments would give
    # one TP at most, IoU <= 1/2 each: PQ < 1).
    target = _row((1, 0), (1, 0), (1, 5), (1, 5))
    pred = _row((1, 1), (1, 2), (1, 2), (1, 1))
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["pq"] == 1.0 and result["per_class"][1]["tp"] == 1
    # whereas a thing's instance ids make separate segments: IoU 1/2 each, no match: FN 2, FP 2
    target = _row((2, 0), (2, 0), (2, 5), (2, 5))
    pred = _row((2, 1), (2, 2), (2, 2), (2, 1))
    assert panoptic_quality(pred, target, THINGS, STUFFS)["per_class"][2] == {
        "pq": 0.0,
        "sq": 0.0,
        "rq": 0.0,
        "tp": 0,
        "fp": 2,
        "fn": 2,
    }


def test_thing_instance_zero_is_an_ordinary_instance():
    # (2, 0) is a segment like (2, 1): the pair is the identity (as torchmetrics)
    target = _row((2, 0), (2, 0), (2, 1), (2, 1))
    assert panoptic_quality(target, target, THINGS, STUFFS)["per_class"][2]["tp"] == 2


def test_categories_must_agree():
    # a prediction of the right pixels with the wrong category matches nothing: FN 1 for
    # thing 2, FP 1 for thing 5, PQ 0 over the 2 categories
    target = _row((2, 1), (2, 1))
    pred = _row((5, 1), (5, 1))
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["pq"] == 0.0 and result["n"] == 2
    assert result["per_class"][2]["fn"] == 1 and result["per_class"][5]["fp"] == 1


def test_no_prediction_at_all_gives_zero():
    # the prediction is void everywhere: each of the 3 ground-truth segments is an FN,
    # TP = 0 -> PQ = SQ = RQ = 0 for both categories, mean 0
    target = _row((2, 1), (2, 2), (1, 0))
    pred = _row((255, 0), (255, 0), (255, 0))
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["pq"] == result["sq"] == result["rq"] == 0.0
    assert result["per_class"][2]["fn"] == 2 and result["per_class"][1]["fn"] == 1


def test_no_prediction_differs_from_torchmetrics():
    # torchmetrics counts no FN for ground truth lying mostly on predicted void: here nothing
    # occurs at all for it (NaN), where panopticapi and segedu say PQ = 0
    target = _row((2, 1), (2, 2), (1, 0))[None]
    pred = _row((255, 0), (255, 0), (255, 0))[None]
    assert math.isnan(tm_panoptic_quality(pred, target, THINGS, STUFFS, True).item())
    assert panoptic_quality(pred, target, THINGS, STUFFS)["pq"] == 0.0


def test_ground_truth_on_predicted_void_differs_from_torchmetrics():
    # target: thing 2 on 0..9; prediction: thing 2 on 0..4, void on 5..9.
    # panopticapi / segedu: I = 5, U = 10 + 5 - 5 = 10, IoU 1/2 -> no match, FN 1 -> PQ 0.
    # torchmetrics also leaves out the 5 target pixels on predicted void: U = 5, IoU 1 -> PQ 1.
    target = _row(*[(2, 1)] * 10)
    pred = _row(*[(2, 1)] * 5, *[(255, 0)] * 5)
    assert panoptic_quality(pred, target, THINGS, STUFFS)["pq"] == 0.0
    assert tm_panoptic_quality(pred[None], target[None], THINGS, STUFFS, True).item() == 1.0
    stat, port = _port(pred[None], target[None])
    assert port["All"]["pq"] == 0.0


def test_empty_image_gives_nan():
    # only void: no category has TP + FP + FN > 0, so the means are over nothing: NaN
    # (torchmetrics: NaN too; panopticapi's pq_average divides by zero)
    void = _row((255, 0), (4, 3), (-1, 0))
    result = panoptic_quality(void, void, THINGS, STUFFS)
    assert all(math.isnan(result[k]) for k in KEYS) and result["n"] == 0
    assert all(
        math.isnan(v["pq"]) and v["tp"] == v["fp"] == v["fn"] == 0
        for v in result["per_class"].values()
    )
    assert math.isnan(tm_panoptic_quality(void[None], void[None], THINGS, STUFFS, True).item())
    with pytest.raises(ZeroDivisionError):
        _port_stat = ref.PQStat()
        _port_stat.pq_average(CATEGORIES, None)
    empty = torch.zeros(2, 0, 5, 2, dtype=torch.int64)  # no pixel at all
    assert math.isnan(panoptic_quality(empty, empty, THINGS, STUFFS)["pq"])


def test_dataset_level_not_mean_over_images():
    # image 1: thing 2 found with IoU 1; image 2: thing 2 missed (predicted as stuff 1, which
    # is an FP of stuff 1 too). Thing 2 over the batch: iou_sum 1, TP 1, FN 1:
    # PQ = 1 / (1 + 1/2) = 2/3 (the mean of per-image PQs would be (1 + 0) / 2).
    # Stuff 1: FP 1, PQ 0. Mean PQ = (2/3 + 0) / 2 = 1/3.
    target = torch.stack([_row((2, 1), (2, 1)), _row((2, 1), (2, 1))])
    pred = torch.stack([_row((2, 1), (2, 1)), _row((1, 0), (1, 0))])
    result = panoptic_quality(pred, target, THINGS, STUFFS)
    assert result["per_class"][2]["pq"] == pytest.approx(2 / 3)
    assert result["pq"] == pytest.approx(1 / 3)
    metric = PanopticQuality(things=THINGS, stuffs=STUFFS)
    metric.update(pred[0], target[0])  # one (H, W, 2) image at a time
    metric.update(pred[1], target[1])
    assert metric.compute().item() == pytest.approx(1 / 3)


def test_segments_never_match_across_images():
    # the same segment in two images of a batch: image 1 predicts on the left, image 2's
    # target is on the left: the batch must not pool them (each image: FN 1, FP 1 -> PQ 0)
    left, right = _row((2, 1), (1, 0)), _row((1, 0), (2, 1))
    pred = torch.stack([left, right])
    target = torch.stack([right, left])
    assert panoptic_quality(pred, target, THINGS, STUFFS)["per_class"][2]["tp"] == 0


def test_single_image_differs_from_torchmetrics_batch_reading():
    # an (H, W, 2) input is one image here; torchmetrics reads H as the batch. Thing 2 covers
    # column 0 of both rows in the target, column 0 of row 0 and column 1 of row 1 in the
    # prediction: one image, I = 1, U = 2 + 2 - 1 = 3, IoU 1/3 -> no match, PQ of thing 2 = 0;
    # as two 1-pixel-wide "images" of 2 pixels, row 0 matches (IoU 1).
    target = torch.tensor([[[2, 1], [1, 0]], [[2, 1], [1, 0]]])
    pred = torch.tensor([[[2, 1], [1, 0]], [[1, 0], [2, 1]]])
    ours = panoptic_quality(pred, target, THINGS, STUFFS)
    assert ours["per_class"][2]["tp"] == 0
    assert ours["pq"] == tm_panoptic_quality(pred[None], target[None], THINGS, STUFFS).item()
    assert ours["pq"] != tm_panoptic_quality(pred, target, THINGS, STUFFS).item()


def test_unknown_predicted_category():
    # torchmetrics raises for a predicted category outside things and stuffs unless
    # allow_unknown_preds_category; here it is void by default, an error with void_category
    target = _row((2, 1), (2, 1), (1, 0))
    pred = _row((2, 1), (2, 1), (9, 0))
    with pytest.raises(ValueError):
        tm_panoptic_quality(pred[None], target[None], THINGS, STUFFS)
    # category 9 is void: stuff 1 is an FN, thing 2 a TP -> PQ (1 + 0) / 2
    assert panoptic_quality(pred, target, THINGS, STUFFS)["pq"] == 0.5
    assert panoptic_quality(pred, target, THINGS, STUFFS, void_category=9)["pq"] == 0.5
    with pytest.raises(ValueError, match=r"pred has categories \[9\]"):
        panoptic_quality(pred, target, THINGS, STUFFS, void_category=255)
    with pytest.raises(ValueError, match=r"target has categories \[9\]"):
        panoptic_quality(target, pred, THINGS, STUFFS, void_category=255)


# --------------------------------------------------------------------------------------------
# COCO crowd, by hand


CROWD_CATEGORIES = {
    1: {"id": 1, "isthing": 1},
    2: {"id": 2, "isthing": 1},
    3: {"id": 3, "isthing": 0},
}


def _port_files(gt_json, pred_json, categories=CROWD_CATEGORIES):
    """panopticapi on the files (its pq_compute, minus the division by zero of an empty mean)."""
    gt, pred = json.loads(gt_json.read_text()), json.loads(pred_json.read_text())
    matched = list(zip(gt["annotations"], pred["annotations"], strict=True))
    folders = str(gt_json.with_suffix("")), str(pred_json.with_suffix(""))
    return _port_results(ref.pq_compute_single_core(matched, *folders, categories), categories)


def _coco_case(tmp_path, gt_segment, gt_info, pred_segment, pred_info, categories=CROWD_CATEGORIES):
    gt_json = _write_coco(tmp_path, "gt", [(np.array(gt_segment), gt_info)], categories)
    pred_json = _write_coco(tmp_path, "pred", [(np.array(pred_segment), pred_info)], categories)
    return gt_json, pred_json


def _info(seg_id, category, area, crowd=0):
    return {"id": seg_id, "category_id": category, "iscrowd": crowd, "area": area}


def test_coco_crowd(tmp_path):
    # ground truth: crowd of category 1 on 0..5 (id 7), person (1) on 6..9 (id 8).
    # prediction: person 11 on 0..4 (all on the crowd: ignored, no FP), person 12 on 6..9
    # (IoU 1, TP), category 2 segment 13 on 5 (on the crowd of another category: FP).
    # The crowd is no FN and is never matched. Category 1: PQ 1; category 2: FP 1, PQ 0.
    gt = [[7] * 6 + [8] * 4]
    pred = [[11] * 5 + [13] + [12] * 4]
    gt_json, pred_json = _coco_case(
        tmp_path,
        gt,
        [_info(7, 1, 6, crowd=1), _info(8, 1, 4)],
        pred,
        [_info(11, 1, 5), _info(12, 1, 4), _info(13, 2, 1)],
    )
    result = panoptic_quality_coco(gt_json, pred_json)
    assert result["per_class"][1] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "tp": 1, "fp": 0, "fn": 0}
    assert result["per_class"][2]["fp"] == 1 and result["pq"] == 0.5
    assert _port_files(gt_json, pred_json)["All"]["pq"] == 0.5


def test_coco_crowd_plus_void_decides(tmp_path):
    # ground truth: void (0) on 0..1, crowd of category 1 on 2..3 (id 7), stuff 3 on 4..9 (id 9).
    # prediction: person 11 on 1..4 (4 px: 1 on void + 2 on crowd = 3 > 2 -> ignored) and stuff
    # 3 elsewhere (0, 5..9: 6 px, 1 on void; I = 5, U = 6 + 6 - 5 - 1 = 6, IoU 5/6 -> TP).
    # Only category 3 occurs: PQ 5/6.
    gt = [[0, 0, 7, 7, 9, 9, 9, 9, 9, 9]]
    pred = [[12, 11, 11, 11, 11, 12, 12, 12, 12, 12]]
    gt_json, pred_json = _coco_case(
        tmp_path,
        gt,
        [_info(7, 1, 2, crowd=1), _info(9, 3, 6)],
        pred,
        [_info(11, 1, 4), _info(12, 3, 6)],
    )
    result = panoptic_quality_coco(gt_json, pred_json)
    assert result["n"] == 1 and result["pq"] == pytest.approx(5 / 6)
    assert _port_files(gt_json, pred_json)["All"]["pq"] == pytest.approx(5 / 6)


def test_coco_two_crowds_of_one_category_differs_from_panopticapi(tmp_path):
    # crowd A (id 7) on 0..2 and crowd B (id 8) on 3..5, both category 1; stuff 3 on 6..9.
    # prediction: person 11 on 1..4 (4 px: 2 on A + 2 on B = 4 > 2: ignored here), stuff 12 on
    # the rest. panopticapi keeps only the last crowd listed (B: 2 of 4, not > half): FP.
    gt = [[7, 7, 7, 8, 8, 8, 9, 9, 9, 9]]
    pred = [[12, 11, 11, 11, 11, 12, 12, 12, 12, 12]]
    gt_json, pred_json = _coco_case(
        tmp_path,
        gt,
        [_info(7, 1, 3, crowd=1), _info(8, 1, 3, crowd=1), _info(9, 3, 4)],
        pred,
        [_info(11, 1, 4), _info(12, 3, 6)],
    )
    assert panoptic_quality_coco(gt_json, pred_json)["per_class"][1]["fp"] == 0
    assert _port_files(gt_json, pred_json)["per_class"][1]["rq"] == 0.0  # its FP


def test_coco_errors(tmp_path):
    gt = [[1, 1, 2]]
    categories = {5: {"id": 5, "isthing": 1}}
    gt_json, pred_json = _coco_case(
        tmp_path / "a",
        gt,
        [_info(1, 5, 2), _info(2, 5, 1)],
        [[1, 1, 3]],
        [_info(1, 5, 2)],
        categories,
    )
    with pytest.raises(ValueError, match=r"segment ids \[3\] are in the PNG"):
        panoptic_quality_coco(gt_json, pred_json)
    gt_json, pred_json = _coco_case(
        tmp_path / "b",
        gt,
        [_info(1, 5, 2), _info(2, 5, 1)],
        [[1, 1, 0]],
        [_info(1, 5, 2), _info(4, 5, 1)],
        categories,
    )
    with pytest.raises(ValueError, match=r"not in the PNG"):
        panoptic_quality_coco(gt_json, pred_json)
    gt_json, pred_json = _coco_case(
        tmp_path / "c",
        gt,
        [_info(1, 5, 2), _info(2, 5, 1)],
        [[1, 1, 0]],
        [_info(1, 6, 2)],
        categories,
    )
    with pytest.raises(ValueError, match="unknown category_id 6"):
        panoptic_quality_coco(gt_json, pred_json)
    pred = json.loads(pred_json.read_text())
    pred["annotations"] = []
    with pytest.raises(ValueError, match="no prediction for the image with id 1"):
        panoptic_quality_coco(gt_json, pred, pred_folder=tmp_path / "c" / "pred")
    with pytest.raises(ValueError, match="pred_folder is needed"):
        panoptic_quality_coco(gt_json, pred)
    assert rgb_to_id(np.array([[[1, 2, 3]]])).item() == 1 + 2 * 256 + 3 * 65536


# --------------------------------------------------------------------------------------------
# the accumulating class


def test_class_accumulates_and_resets():
    rng = np.random.default_rng(3)
    batches = [_random_batch(rng, pred_void=True) for _ in range(4)]
    metric = PanopticQuality(things=THINGS, stuffs=STUFFS)
    for pred, target in batches:
        metric.update(pred, target)
    empty = torch.zeros(0, 3, 3, 2, dtype=torch.int64)  # a batch of no image: nothing occurs
    assert math.isnan(panoptic_quality(empty, empty, THINGS, STUFFS)["pq"])
    # the states of two "processes" add up to those of one that saw everything
    first, second = (
        PanopticQuality(things=THINGS, stuffs=STUFFS),
        PanopticQuality(things=THINGS, stuffs=STUFFS),
    )
    for k, (pred, target) in enumerate(batches):
        (first if k % 2 else second).update(pred, target)
    for name, state in first.states().items():
        state += second.states()[name]  # what all_reduce does, in place
    assert set(first.states()) == {"iou_sum", "tp", "fp", "fn"}
    for key in KEYS:
        assert _close(first.compute_all()[key], metric.compute_all()[key])
    stat = ref.PQStat()
    for pred, target in batches:
        stat += _port(pred, target)[0]
    _assert_equal_to_port(metric.compute_all(), stat, _port_results(stat))
    assert metric.compute().dtype == torch.float64 and metric.compute().ndim == 0
    metric.reset()
    assert all(int(s.abs().sum()) == 0 for s in metric.states().values())
    assert math.isnan(metric.compute().item())
    assert "things=[0, 2, 5]" in repr(metric)


# --------------------------------------------------------------------------------------------
# bad input


def test_input_validation():
    x = _row((2, 1), (1, 0))
    with pytest.raises(TypeError, match="tensor"):
        panoptic_quality(x.numpy(), x, THINGS, STUFFS)
    with pytest.raises(TypeError, match="integer"):
        panoptic_quality(x.float(), x, THINGS, STUFFS)
    with pytest.raises(TypeError, match="integer"):
        panoptic_quality(x, x.bool(), THINGS, STUFFS)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        panoptic_quality(x[..., :1], x[..., :1], THINGS, STUFFS)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        panoptic_quality(x[0], x[0], THINGS, STUFFS)  # (W, 2): no image
    with pytest.raises(ValueError, match="same shape"):
        panoptic_quality(x, x[None].expand(2, -1, -1, -1), THINGS, STUFFS)
    with pytest.raises(ValueError, match="share"):
        panoptic_quality(x, x, {1, 2}, {2, 3})
    with pytest.raises(ValueError, match="both empty"):
        panoptic_quality(x, x, set(), [])
    with pytest.raises(TypeError, match="integer category ids"):
        panoptic_quality(x, x, {1.5}, {2})
    with pytest.raises(TypeError, match="collection"):
        panoptic_quality(x, x, 1, {2})
    with pytest.raises(ValueError, match="void_category 1"):
        panoptic_quality(x, x, THINGS, STUFFS, void_category=1)
    with pytest.raises(TypeError, match="void_category"):
        PanopticQuality(things=THINGS, stuffs=STUFFS, void_category="void")
    with pytest.raises(TypeError):
        PanopticQuality(THINGS, STUFFS)  # keyword-only
    assert (
        panoptic_quality(x.int(), x.to(torch.uint8), THINGS, STUFFS)["pq"] == 1.0
    )  # any int dtype
