"""DETR's Hungarian matcher against brute force (every injection) and against transformers'
``HungarianMatcher`` (a port of facebookresearch/detr's ``models/matcher.py``)."""

from __future__ import annotations

import itertools

import pytest
import torch

import segedu.models.universal.detr  # noqa: F401  (explicit import, no registration needed)
from segedu.models.universal.detr import HungarianMatcher, hungarian_assignment


def random_boxes(n: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``(n, 4)`` valid ``cxcywh`` boxes inside the unit square."""
    centre = torch.rand(n, 2, generator=generator, dtype=dtype) * 0.6 + 0.2
    size = torch.rand(n, 2, generator=generator, dtype=dtype) * 0.35 + 0.05
    return torch.cat([centre, size], dim=1)


def random_case(batch: int, queries: int, classes: int, num_targets: list[int], seed: int,
                dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    outputs = {
        "pred_logits": torch.randn(batch, queries, classes + 1, generator=g, dtype=dtype),
        "pred_boxes": torch.stack([random_boxes(queries, g, dtype) for _ in range(batch)]),
    }
    targets = [{"labels": torch.randint(0, classes, (m,), generator=g),
                "boxes": random_boxes(m, g, dtype)}
               for m in num_targets]
    return outputs, targets


def brute_force_min(cost: torch.Tensor) -> tuple[float, set[tuple[tuple[int, int], ...]]]:
    """The smallest total cost over every injection of the smaller side into the larger one,
    and the set of injections that reach it (as sorted (pred, target) pairs)."""
    q, m = cost.shape
    best, argbest = float("inf"), set()
    if q >= m:  # each target gets a distinct query
        candidates = (tuple(zip(queries, range(m), strict=True))
                      for queries in itertools.permutations(range(q), m))
    else:  # each query gets a distinct target
        candidates = (tuple(zip(range(q), tgts, strict=True))
                      for tgts in itertools.permutations(range(m), q))
    for pairs in candidates:
        total = sum(float(cost[i, j]) for i, j in pairs)
        key = tuple(sorted(pairs))
        if total < best - 1e-12:
            best, argbest = total, {key}
        elif abs(total - best) <= 1e-12:
            argbest.add(key)
    return best, argbest


@pytest.mark.parametrize("queries, num_targets",
                         [(5, [3, 0, 5, 1]), (4, [4, 2]), (3, [5, 4]), (1, [1, 3, 0])])
def test_matcher_equals_brute_force(queries, num_targets):
    """Random cases, including more targets than queries (each query then gets one target,
    although DETR always has Q >= M) and images without targets."""
    matcher = HungarianMatcher(cost_class=1.0, cost_bbox=5.0, cost_giou=2.0)
    for seed in range(3):
        outputs, targets = random_case(len(num_targets), queries, 4, num_targets, seed)
        indices = matcher(outputs, targets)
        for b, (pred_idx, tgt_idx) in enumerate(indices):
            m = len(targets[b]["labels"])
            assert pred_idx.dtype == tgt_idx.dtype == torch.int64
            assert len(pred_idx) == len(tgt_idx) == min(queries, m)
            # DETR's order: predictions increasing
            assert torch.equal(pred_idx, pred_idx.sort().values)
            assert (len(set(pred_idx.tolist())) == len(pred_idx)
                    and len(set(tgt_idx.tolist())) == len(tgt_idx))
            cost = matcher.cost_matrix(outputs["pred_logits"][b], outputs["pred_boxes"][b],
                                       targets[b]["labels"], targets[b]["boxes"])
            best, argbest = brute_force_min(cost)
            if m == 0:
                assert len(pred_idx) == 0
                continue
            ours = tuple(sorted(zip(pred_idx.tolist(), tgt_idx.tolist(), strict=True)))
            assert argbest == {ours}  # the optimum is unique here: the very same pairs
            assert float(cost[pred_idx, tgt_idx].sum()) == pytest.approx(best, abs=1e-12)


def test_matcher_cost_terms_by_hand():
    """The cost of one pair, written out: -p(class) + 5 L1 - 2 GIoU."""
    matcher = HungarianMatcher()
    logits = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.2]], dtype=torch.float64)  # xyxy [0.4, 0.4, 0.6, 0.6]
    # xyxy [0.45, 0.3, 0.65, 0.7]
    target = torch.tensor([[0.55, 0.5, 0.2, 0.4]], dtype=torch.float64)
    p = torch.softmax(logits, -1)[0, 1]
    l1 = 0.05 + 0 + 0 + 0.2
    inter, union, enclosing = 0.15 * 0.2, 0.04 + 0.08 - 0.03, 0.25 * 0.4
    giou = inter / union - (enclosing - union) / enclosing
    expected = -p + 5 * l1 - 2 * giou
    cost = matcher.cost_matrix(logits, boxes, torch.tensor([1]), target)
    assert float(cost[0, 0]) == pytest.approx(float(expected), abs=1e-12)


def test_matcher_ties_give_an_optimal_assignment():
    """Identical queries (or identical targets) tie: any optimal assignment is right."""
    matcher = HungarianMatcher()
    g = torch.Generator().manual_seed(0)
    one_logit, one_box = torch.randn(1, 1, 3, generator=g), random_boxes(1, g, torch.float32)[None]
    outputs = {"pred_logits": one_logit.repeat(1, 4, 1), "pred_boxes": one_box.repeat(1, 4, 1)}
    targets = [{"labels": torch.tensor([0, 1, 0]), "boxes": random_boxes(3, g, torch.float32)}]
    (pred_idx, tgt_idx), = matcher(outputs, targets)
    cost = matcher.cost_matrix(outputs["pred_logits"][0], outputs["pred_boxes"][0],
                               targets[0]["labels"],
                               targets[0]["boxes"])
    best, argbest = brute_force_min(cost.double())
    assert len(argbest) > 1  # really a tie
    assert float(cost[pred_idx, tgt_idx].double().sum()) == pytest.approx(best, abs=1e-5)
    # identical targets: the cost columns tie
    targets = [{"labels": torch.tensor([1, 1]),
                "boxes": random_boxes(1, g, torch.float32).repeat(2, 1)}]
    outputs = {"pred_logits": torch.randn(1, 3, 3, generator=g),
               "pred_boxes": random_boxes(3, g, torch.float32)[None]}
    (pred_idx, tgt_idx), = matcher(outputs, targets)
    assert sorted(tgt_idx.tolist()) == [0, 1] and len(set(pred_idx.tolist())) == 2


def test_matcher_equals_transformers():
    """Indices equal transformers' ``HungarianMatcher`` (same costs) on random batches, float32 and
    float64, with images without targets and a one-query model."""
    loss_module = pytest.importorskip("transformers.loss.loss_for_object_detection")
    for weights in [(1.0, 5.0, 2.0), (2.0, 1.0, 0.5)]:
        ours = HungarianMatcher(cost_class=weights[0], cost_bbox=weights[1], cost_giou=weights[2])
        theirs = loss_module.HungarianMatcher(class_cost=weights[0], bbox_cost=weights[1],
                                              giou_cost=weights[2])
        for seed, (queries, num_targets, dtype) in enumerate(
            [(10, [3, 0, 7], torch.float64), (20, [20, 5], torch.float32),
             (1, [1, 0], torch.float32),
             (8, [0, 0], torch.float64)]
        ):
            outputs, targets = random_case(len(num_targets), queries, 5, num_targets, seed, dtype)
            expected = theirs({"logits": outputs["pred_logits"],
                               "pred_boxes": outputs["pred_boxes"]},
                              [{"class_labels": t["labels"], "boxes": t["boxes"]} for t in targets])
            got = ours(outputs, targets)
            for (p1, t1), (p2, t2) in zip(got, expected, strict=True):
                assert torch.equal(p1, p2) and torch.equal(t1, t2)


def test_hungarian_assignment_shapes_and_errors():
    pred, tgt = hungarian_assignment(torch.zeros(3, 0))
    assert pred.shape == tgt.shape == (0,) and pred.dtype == torch.int64
    pred, tgt = hungarian_assignment(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert pred.tolist() == [0, 1] and tgt.tolist() == [1, 0]
    with pytest.raises(ValueError, match="NaN or infinite"):
        hungarian_assignment(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match=r"\(Q, M\)"):
        hungarian_assignment(torch.zeros(3))


def test_matcher_bad_input():
    matcher = HungarianMatcher()
    outputs, targets = random_case(2, 4, 3, [1, 2], 0, torch.float32)
    with pytest.raises(ValueError, match="2 targets for a batch of 1"):
        matcher({k: v[:1] for k, v in outputs.items()}, targets)
    with pytest.raises(ValueError, match="pred_boxes must be"):
        matcher({"pred_logits": outputs["pred_logits"],
                 "pred_boxes": outputs["pred_boxes"][..., :3]}, targets)
    with pytest.raises(KeyError, match="pred_boxes"):
        matcher({"pred_logits": outputs["pred_logits"]}, targets)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        matcher(outputs,
                [targets[0], {"labels": torch.tensor([0, 3]), "boxes": targets[1]["boxes"]}])
    with pytest.raises(TypeError, match="integer"):
        matcher(outputs,
                [targets[0], {"labels": torch.tensor([0.0, 1.0]), "boxes": targets[1]["boxes"]}])
    with pytest.raises(ValueError, match="rows for 2 labels"):
        matcher(outputs,
                [targets[0], {"labels": torch.tensor([0, 1]), "boxes": targets[1]["boxes"][:1]}])
    with pytest.raises(ValueError, match="non-zero"):
        HungarianMatcher(cost_class=0, cost_bbox=0, cost_giou=0)
