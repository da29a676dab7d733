"""DETR's set loss against transformers' ``ImageLoss`` (a port of facebookresearch/detr's
``SetCriterion``) and against the formulas written out."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import segedu.models.universal.detr  # noqa: F401
from segedu.models.universal.detr import HungarianMatcher, SetCriterion
from segedu.ops import box_convert, generalized_box_iou

from .test_hungarian_matcher import random_case


def to_transformers(outputs, targets):
    """segedu/DETR key names -> transformers' (``logits``,
    ``auxiliary_outputs``, ``class_labels``)."""
    theirs = {"logits": outputs["pred_logits"], "pred_boxes": outputs["pred_boxes"]}
    if "aux_outputs" in outputs:
        theirs["auxiliary_outputs"] = [{"logits": a["pred_logits"], "pred_boxes": a["pred_boxes"]}
                                       for a in outputs["aux_outputs"]]
    return theirs, [{"class_labels": t["labels"], "boxes": t["boxes"]} for t in targets]


def with_aux(outputs, layers: int, seed: int):
    g = torch.Generator().manual_seed(1000 + seed)
    b, q, c1 = outputs["pred_logits"].shape
    dtype = outputs["pred_logits"].dtype
    aux = [{"pred_logits": torch.randn(b, q, c1, generator=g, dtype=dtype),
            "pred_boxes": torch.cat([torch.rand(b, q, 2, generator=g, dtype=dtype) * 0.6 + 0.2,
                                     torch.rand(b, q, 2, generator=g, dtype=dtype) * 0.35 + 0.05],
                                    -1)}
           for _ in range(layers)]
    return {**outputs, "aux_outputs": aux}


@pytest.mark.parametrize("queries, num_targets",
                         [(10, [3, 0, 7]), (6, [6, 6]), (1, [1, 0]), (5, [0, 0])])
def test_losses_equal_transformers(queries, num_targets):
    """loss_ce, loss_bbox, loss_giou and cardinality_error of every layer equal transformers'
    (float64, 1e-12 relative); transformers names the auxiliary keys ``loss_ce_0`` ... as well."""
    loss_module = pytest.importorskip("transformers.loss.loss_for_object_detection")
    num_classes = 4
    for seed in range(2):
        outputs, targets = random_case(len(num_targets), queries, num_classes, num_targets, seed)
        outputs = with_aux(outputs, 2, seed)
        ours = SetCriterion(num_classes=num_classes, eos_coef=0.1)(outputs, targets)
        matcher = loss_module.HungarianMatcher(class_cost=1, bbox_cost=5, giou_cost=2)
        theirs = loss_module.ImageLoss(matcher, num_classes, 0.1,
                                       ["labels", "boxes", "cardinality"]).double()
        expected = theirs(*to_transformers(outputs, targets))
        assert set(expected) <= set(ours)
        assert set(ours) - set(expected) == {"class_error"}
        for key, value in expected.items():
            torch.testing.assert_close(ours[key],
                                       value.to(ours[key].dtype).reshape(ours[key].shape),
                                       rtol=1e-12, atol=1e-12, msg=key)


def test_losses_by_hand():
    """The three losses of one image written out with F.cross_entropy and the box formulas."""
    num_classes = 3
    outputs, targets = random_case(1, 6, num_classes, [2], 3)
    criterion = SetCriterion(num_classes=num_classes)
    losses = criterion(outputs, targets)
    (pred_idx, tgt_idx), = HungarianMatcher()(outputs, targets)
    target_classes = torch.full((6,), num_classes)
    target_classes[pred_idx] = targets[0]["labels"][tgt_idx]
    weight = torch.tensor([1.0, 1.0, 1.0, 0.1], dtype=torch.float64)
    logits = outputs["pred_logits"][0]
    per_query = F.cross_entropy(logits, target_classes, reduction="none")
    expected_ce = (weight[target_classes] * per_query).sum() / weight[target_classes].sum()
    torch.testing.assert_close(losses["loss_ce"], expected_ce)
    pred_boxes, tgt_boxes = outputs["pred_boxes"][0, pred_idx], targets[0]["boxes"][tgt_idx]
    torch.testing.assert_close(losses["loss_bbox"], (pred_boxes - tgt_boxes).abs().sum() / 2)
    giou = generalized_box_iou(box_convert(pred_boxes, "cxcywh", "xyxy"),
                               box_convert(tgt_boxes, "cxcywh", "xyxy"))
    torch.testing.assert_close(losses["loss_giou"], (1 - giou.diagonal()).sum() / 2)
    accuracy = (logits[pred_idx].argmax(-1) == targets[0]["labels"][tgt_idx]).double().mean() * 100
    torch.testing.assert_close(losses["class_error"], 100 - accuracy.float(), check_dtype=False)
    total = losses["loss_ce"] + 5 * losses["loss_bbox"] + 2 * losses["loss_giou"]
    torch.testing.assert_close(criterion.total(losses), total)


def test_edge_cases_and_gradients():
    """No targets anywhere: only the no-object class loss is left, box losses are 0 and the
    backward pass still works. Every query predicting no-object: cardinality error = M."""
    outputs, targets = random_case(2, 4, 3, [0, 0], 0, torch.float32)
    outputs = {k: v.requires_grad_() for k, v in outputs.items()}
    losses = SetCriterion(num_classes=3)(with_aux(outputs, 1, 0), targets)
    assert losses["loss_bbox"] == 0 and losses["loss_giou"] == 0 and losses["class_error"] == 100
    torch.testing.assert_close(losses["loss_ce"],
                               F.cross_entropy(outputs["pred_logits"].reshape(8, 4),
                                                                   torch.full((8,), 3)))
    SetCriterion(num_classes=3).total(losses).backward()
    assert outputs["pred_logits"].grad.abs().sum() > 0
    # all queries say "no object" with certainty
    logits = torch.full((1, 5, 4), -20.0)
    logits[..., 3] = 20.0
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.2]]).repeat(1, 5, 1)
    targets = [{"labels": torch.tensor([0, 2]),
                "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]])}]
    losses = SetCriterion(num_classes=3)({"pred_logits": logits, "pred_boxes": boxes}, targets)
    assert losses["cardinality_error"] == 2 and losses["class_error"] == 100
    # the loss of the two matched queries dominates: about 40 each, weighted 1, over 2 + 3 * 0.1
    assert losses["loss_ce"] == pytest.approx(2 * 40 / 2.3, rel=1e-3)


def test_bad_input():
    outputs, targets = random_case(1, 4, 3, [1], 0, torch.float32)
    with pytest.raises(ValueError, match="expected num_classes"):
        SetCriterion(num_classes=4)(outputs, targets)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        SetCriterion(num_classes=0)
    with pytest.raises(TypeError, match="list of dicts"):
        SetCriterion(num_classes=3)(outputs, targets[0])
