"""Mask2Former's point sampling, matcher and loss against transformers' ports of the original
(``sample_point``, ``Mask2FormerHungarianMatcher``, ``Mask2FormerLoss`` in
``transformers.models.mask2former.modeling_mask2former``), against brute force and against the
formulas written out.

How the random comparison is made exact: both implementations draw their points with
``torch.rand`` from PyTorch's global generator, with the same shapes in the same order (matcher:
one ``(1, K, 2)`` call per image; mask loss: ``(N, 3K, 2)`` then ``(N, K/4, 2)``; last layer,
then each auxiliary layer). Seeding the global generator identically before each call therefore
gives both the same points, and the results must agree to float32 rounding (they do exactly, as
both run the same operations). A test also checks that another seed changes the result, so that
the comparison is not vacuous.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import segedu.models.universal.mask2former.criterion  # noqa: F401  (explicit import, without the package's __init__)
from segedu.models.universal.mask2former.criterion import (
    MaskSetCriterion,
    dice_loss,
    sigmoid_ce_loss,
)
from segedu.models.universal.mask2former.matcher import (
    MaskHungarianMatcher,
    pairwise_dice,
    pairwise_sigmoid_ce,
)
from segedu.models.universal.mask2former.point_sampling import (
    calculate_uncertainty,
    point_sample,
    sample_uncertain_points,
)

reference = pytest.importorskip("transformers.models.mask2former.modeling_mask2former")


def random_batch(num_targets, queries=6, classes=4, pred_size=(12, 16), target_size=(48, 64), aux=0,
                 seed=0):
    """Outputs (logits spread so that the matching is not trivial) and binary targets."""
    g = torch.Generator().manual_seed(seed)
    b = len(num_targets)

    def layer():
        return {"pred_logits": 2 * torch.randn(b, queries, classes + 1, generator=g),
                "pred_masks": 4 * torch.randn(b, queries, *pred_size, generator=g)}

    outputs = layer()
    if aux:
        outputs["aux_outputs"] = [layer() for _ in range(aux)]
    targets = []
    for m in num_targets:
        coarse = torch.rand(m, 1, 6, 8, generator=g)  # blobs, not salt and pepper
        smooth = F.interpolate(coarse, size=target_size, mode="bilinear", align_corners=False)
        masks = smooth[:, 0] > 0.5
        targets.append({"labels": torch.randint(0, classes, (m,), generator=g),
                        "masks": masks.float()})
    return outputs, targets


# --------------------------------------------------------------------------------------------
# point sampling


def test_point_sample_at_pixel_centres_and_between():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=g)
    rows, cols = torch.meshgrid(torch.arange(5), torch.arange(7), indexing="ij")
    centres = torch.stack([(cols + 0.5) / 7, (rows + 0.5) / 5],
                          dim=-1).reshape(1, -1, 2).repeat(2, 1, 1)
    torch.testing.assert_close(point_sample(x, centres), x.flatten(2))  # (N, C, P)
    # halfway between the centres of pixels (1, 2) and (1, 3): their mean
    mid = torch.tensor([[[3.0 / 7, 1.5 / 5]]]).repeat(2, 1, 1)
    torch.testing.assert_close(point_sample(x, mid)[..., 0], (x[:, :, 1, 2] + x[:, :, 1, 3]) / 2)
    # a (N, Hg, Wg, 2) grid gives (N, C, Hg, Wg)
    assert point_sample(x, centres.reshape(2, 5, 7, 2)).shape == (2, 3, 5, 7)
    with pytest.raises(ValueError, match=r"\(N, P, 2\)"):
        point_sample(x, centres[:1])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        point_sample(x[0], centres)


def test_point_sample_equals_transformers():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 9, 11, generator=g)
    points = torch.rand(3, 50, 2, generator=g) * 1.2 - 0.1  # some outside [0, 1]: zero padding
    torch.testing.assert_close(point_sample(x, points),
                               reference.sample_point(x, points, align_corners=False),
                               rtol=0, atol=0)


@pytest.mark.parametrize("num_masks, num_points, ratio",
                         [(4, 100, 0.75), (1, 37, 0.75), (3, 40, 1.0), (2, 50, 0.0),
                                                          (0, 100, 0.75)])
def test_uncertain_points_equal_transformers(num_masks, num_points, ratio):
    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(num_masks, 1, 10, 13, generator=g)
    torch.manual_seed(7)
    ours = sample_uncertain_points(logits, num_points=num_points, oversample_ratio=3,
                                   importance_sample_ratio=ratio)
    torch.manual_seed(7)
    loss = reference.Mask2FormerLoss.__new__(reference.Mask2FormerLoss)  # the method needs no state
    theirs = loss.sample_points_using_uncertainty(logits, loss.calculate_uncertainty, num_points, 3,
                                                  ratio)
    assert ours.shape == (num_masks, num_points, 2)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_uncertain_points_are_the_most_uncertain_candidates():
    """With a generator: the kept points are the top 0.75K candidates by -|logit|, then
    0.25K uniform."""
    logits = 3 * torch.randn(2, 1, 10, 13, generator=torch.Generator().manual_seed(3))
    points = sample_uncertain_points(logits, num_points=40,
                                     generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    candidates = torch.rand(2, 120, 2, generator=g)
    uniform = torch.rand(2, 10, 2, generator=g)
    scores = calculate_uncertainty(point_sample(logits, candidates))[:, 0]  # (2, 120)
    for n in range(2):
        chosen = scores[n].argsort(descending=True)[:30]
        torch.testing.assert_close(points[n, :30], candidates[n, chosen])
    torch.testing.assert_close(points[:, 30:], uniform)
    with pytest.raises(ValueError, match="oversample_ratio"):
        sample_uncertain_points(logits, num_points=4, oversample_ratio=0.5)
    with pytest.raises(ValueError, match="importance_sample_ratio"):
        sample_uncertain_points(logits, num_points=4, importance_sample_ratio=1.5)


# --------------------------------------------------------------------------------------------
# pairwise costs and matcher


def test_pairwise_costs_equal_per_pair_losses():
    g = torch.Generator().manual_seed(5)
    logits = 3 * torch.randn(5, 40, generator=g, dtype=torch.float64)
    targets = (torch.rand(3, 40, generator=g) > 0.5).double()
    ce, dice = pairwise_sigmoid_ce(logits, targets), pairwise_dice(logits, targets)
    for i, j in itertools.product(range(5), range(3)):
        pair = (logits[i : i + 1], targets[j : j + 1])
        torch.testing.assert_close(ce[i, j], F.binary_cross_entropy_with_logits(*pair))
        torch.testing.assert_close(ce[i, j], sigmoid_ce_loss(*pair, 1))
        p = logits[i].sigmoid()
        torch.testing.assert_close(dice[i, j], 1 - (2 * (p * targets[j]).sum() + 1)
                                   / (p.sum() + targets[j].sum() + 1))
        torch.testing.assert_close(dice[i, j], dice_loss(*pair, 1))
    torch.testing.assert_close(pairwise_dice(logits, targets[:0]),
                               torch.zeros(5, 0, dtype=torch.float64))


def their_indices(matcher_kwargs, outputs, targets):
    theirs = reference.Mask2FormerHungarianMatcher(**matcher_kwargs)
    return theirs(outputs["pred_masks"], outputs["pred_logits"], [t["masks"] for t in targets],
                  [t["labels"] for t in targets])


@pytest.mark.parametrize("num_targets, queries",
                         [([3, 0, 5], 6), ([6], 6), ([1, 2], 1), ([0, 0], 4), ([8], 5)])
def test_matcher_equals_transformers(num_targets, queries):
    """Same seed, same points: same indices. Includes images without targets, a one-query
    model and more targets than queries."""
    kwargs = {"cost_class": 2.0, "cost_mask": 5.0, "cost_dice": 5.0, "num_points": 12544}
    outputs, targets = random_batch(num_targets, queries=queries, seed=sum(num_targets) + queries)
    torch.manual_seed(11)
    ours = MaskHungarianMatcher(**kwargs)(outputs, targets)
    torch.manual_seed(11)
    theirs = their_indices(kwargs, outputs, targets)
    for (p1, t1), (p2, t2), m in zip(ours, theirs, num_targets, strict=True):
        assert torch.equal(p1, p2) and torch.equal(t1, t2)
        assert len(p1) == min(m, queries) and torch.equal(p1, p1.sort().values)


def test_matcher_is_optimal_and_uses_the_seed():
    """The assignment minimises the cost over every injection (brute force, with the matcher's
    own points), and a different seed gives different points (here: different costs)."""
    matcher = MaskHungarianMatcher(num_points=64)
    outputs, targets = random_batch([4], queries=6, seed=3)
    generator = torch.Generator().manual_seed(0)
    (pred_idx, tgt_idx), = matcher(outputs, targets, generator=generator)
    points = torch.rand(1, 64, 2, generator=torch.Generator().manual_seed(0))
    cost = matcher.cost_matrix(outputs["pred_logits"][0], outputs["pred_masks"][0],
                               targets[0]["labels"],
                               targets[0]["masks"], points)
    best = min(sum(float(cost[q, j]) for j, q in enumerate(perm))
               for perm in itertools.permutations(range(6), 4))
    assert float(cost[pred_idx, tgt_idx].sum()) == pytest.approx(best, rel=1e-6)
    other = matcher.cost_matrix(outputs["pred_logits"][0], outputs["pred_masks"][0],
                                targets[0]["labels"],
                                targets[0]["masks"],
                                torch.rand(1, 64, 2, generator=torch.Generator().manual_seed(1)))
    assert not torch.allclose(cost, other)


# --------------------------------------------------------------------------------------------
# criterion


def their_losses(outputs, targets, num_points, eos_coef=0.1):
    config = reference.Mask2FormerConfig(num_labels=outputs["pred_logits"].shape[-1] - 1,
                                         no_object_weight=eos_coef,
                                         train_num_points=num_points, oversample_ratio=3.0,
                                         importance_sample_ratio=0.75, class_weight=2.0,
                                         mask_weight=5.0,
                                         dice_weight=5.0)
    loss = reference.Mask2FormerLoss(config, weight_dict={})
    aux = [{"masks_queries_logits": a["pred_masks"], "class_queries_logits": a["pred_logits"]}
           for a in outputs.get("aux_outputs", [])]
    result = loss(outputs["pred_masks"], outputs["pred_logits"], [t["masks"] for t in targets],
                  [t["labels"] for t in targets], aux or None)
    return {k.replace("loss_cross_entropy", "loss_ce"): v for k, v in result.items()}


@pytest.mark.parametrize("num_targets, queries, num_points",
                         [([3, 0, 5], 6, 12544), ([2], 1, 500), ([0, 0], 4, 500),
                          ([7, 1], 5, 1000)])
def test_criterion_equals_transformers(num_targets, queries, num_points):
    """Every loss of every layer (3 auxiliary layers) equals transformers' with the same seed, to
    float32 rounding (1e-6). Includes no targets at all (only the no-object class term is left),
    one query, and more targets than queries."""
    outputs, targets = random_batch(num_targets, queries=queries, aux=3,
                                    seed=len(num_targets) + queries)
    criterion = MaskSetCriterion(num_classes=4, num_points=num_points)
    torch.manual_seed(3)
    ours = criterion(outputs, targets)
    torch.manual_seed(3)
    theirs = their_losses(outputs, targets, num_points)
    assert set(ours) == set(theirs) == {f"{k}{s}" for k in ("loss_ce", "loss_mask", "loss_dice")
                                        for s in ("", "_0", "_1", "_2")}
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key].reshape(()), rtol=1e-6, atol=1e-6,
                                   msg=key)
    if sum(num_targets) == 0:
        assert ours["loss_mask"] == 0 and ours["loss_dice"] == 0
        logits = outputs["pred_logits"].reshape(-1, 5)
        torch.testing.assert_close(ours["loss_ce"],
                                   F.cross_entropy(logits, torch.full((len(logits),), 4)))
    else:  # the comparison depends on the points: another seed gives other mask losses
        torch.manual_seed(4)
        assert criterion(outputs, targets)["loss_mask"] != ours["loss_mask"]


def test_criterion_by_hand_and_gradients():
    """Class loss written out with the matcher's indices; the weighted total; gradients reach
    both heads of every layer."""
    outputs, targets = random_batch([2, 3], queries=5, aux=1, seed=9)
    for layer in [outputs, *outputs["aux_outputs"]]:
        for key in ("pred_logits", "pred_masks"):
            layer[key].requires_grad_()
    criterion = MaskSetCriterion(num_classes=4, num_points=200)
    generator = torch.Generator().manual_seed(0)
    losses = criterion(outputs, targets, generator=generator)
    indices = criterion.matcher(outputs, targets, generator=torch.Generator().manual_seed(0))
    target_classes = torch.full((2, 5), 4)
    for b, (p, t) in enumerate(indices):
        target_classes[b, p] = targets[b]["labels"][t]
    weight = torch.tensor([1, 1, 1, 1, 0.1])
    expected = F.cross_entropy(outputs["pred_logits"].transpose(1, 2), target_classes,
                               weight=weight)
    torch.testing.assert_close(losses["loss_ce"], expected)
    total = criterion.total(losses)
    expected_total = sum(w * (losses[k] + losses[k + "_0"])
                         for k, w in {"loss_ce": 2, "loss_mask": 5,
                                                                          "loss_dice": 5}.items())
    torch.testing.assert_close(total, expected_total)
    total.backward()
    for layer in [outputs, *outputs["aux_outputs"]]:
        assert (layer["pred_logits"].grad.abs().sum() > 0
                and layer["pred_masks"].grad.abs().sum() > 0)


def test_criterion_bad_input():
    outputs, targets = random_batch([1, 2], queries=3, seed=0)
    criterion = MaskSetCriterion(num_classes=4, num_points=10)
    with pytest.raises(ValueError, match="share one size"):
        criterion(outputs, [targets[0], {"labels": targets[1]["labels"],
                                         "masks": targets[1]["masks"][..., :-1]}])
    with pytest.raises(ValueError, match="expected num_classes"):
        MaskSetCriterion(num_classes=3)(outputs, targets)
    with pytest.raises(ValueError, match="pred_masks must be"):
        criterion({"pred_logits": outputs["pred_logits"],
                   "pred_masks": outputs["pred_masks"][:, :2]}, targets)
    with pytest.raises(KeyError, match="masks"):
        criterion(outputs, [targets[0], {"labels": targets[1]["labels"]}])
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        criterion(outputs,
                  [targets[0], {"labels": torch.tensor([4, 0]), "masks": targets[1]["masks"]}])
    with pytest.raises(ValueError, match=r"2 targets for a batch of 1"):
        criterion({k: v[:1] for k, v in outputs.items()}, targets)
    with pytest.raises(ValueError, match="num_points"):
        MaskHungarianMatcher(num_points=0)
