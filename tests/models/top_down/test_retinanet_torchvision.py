"""RetinaNet (ResNet-50 FPN) equals torchvision's ``retinanet_resnet50_fpn`` given torchvision's
weights: the same raw head outputs and anchors, the same detections in evaluation (none when no
score passes the threshold), the same losses in training (an image without objects included);
one changed weight changes the outputs. The loss's pieces are checked by hand.

The models are built once per module (ResNet-50 twice): torchvision's as its builder makes it
for the COCO weights (frozen batch norm, eps 0), saved with the head names of torchvision's COCO
file (``conv.0, conv.2, ...``), loaded with ``get_model``. Small images (short side 128) and 5
classes keep it quick; the code paths are the full model's.
"""

import math

import pytest
import torch
import torchvision
from torchvision.models.detection import retinanet as tv_retinanet
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d as TvFrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7 as TvLastLevelP6P7

import segedu.models.top_down.detection  # noqa: F401  (registers the models)
from segedu.models.registry import get_model, official_url
from segedu.models.top_down.detection.retinanet.loss import (
    anchor_box_loss,
    focal_classification_loss,
)
from segedu.nn.frozen_batch_norm import FrozenBatchNorm2d

from ._one_stage import assert_bitwise, images, record, targets, their_matches

SMALL = {"num_classes": 5, "min_size": 128, "max_size": 160}
PARAMETERS_91 = 34_068_119  # trainable batch norm; torchvision documents 34,014,999 (frozen)
BATCH_NORM_PARAMETERS = 53_120  # ResNet-50's batch-norm scales and shifts


def _coco_style_keys(state):
    """The state dict as torchvision's COCO file names the head's towers (before
    torchvision 0.13): ``conv.{2 i}.weight`` for today's ``conv.{i}.0.weight``."""
    renamed = {}
    for key, value in state.items():
        for head in ("head.classification_head.conv.", "head.regression_head.conv."):
            if key.startswith(head):
                index, _, name = key[len(head):].split(".")
                key = f"{head}{2 * int(index)}.{name}"
        renamed[key] = value
    return renamed


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(torchvision's model, segedu's loaded from its weights), both in eval mode."""
    torch.manual_seed(0)
    body = torchvision.models.resnet50(norm_layer=TvFrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 3, returned_layers=[2, 3, 4],
                                     extra_blocks=TvLastLevelP6P7(256, 256))
    theirs = tv_retinanet.RetinaNet(backbone, SMALL["num_classes"], min_size=SMALL["min_size"],
                                    max_size=SMALL["max_size"])
    overwrite_eps(theirs, 0.0)
    with torch.no_grad():  # scores spread over (0.05, 1) instead of all ~0.01 (the prior)
        theirs.head.classification_head.cls_logits.bias.fill_(-1.0)
    state = _coco_style_keys(theirs.state_dict())
    assert "head.classification_head.conv.6.weight" in state  # the old names
    assert not any(k.endswith("num_batches_tracked") for k in state)  # as the COCO file
    path = tmp_path_factory.mktemp("retinanet") / "retinanet.pth"
    torch.save(state, path)
    ours = get_model("retinanet_resnet50_fpn", weights=path, **SMALL).eval()
    theirs.eval()
    return theirs, ours, record(theirs, images()), record(ours, images())


def test_loaded_as_torchvision_builds_it_for_the_coco_weights(models):
    theirs, ours, _, _ = models
    assert list(ours.state_dict()) == list(theirs.state_dict())
    frozen = [m for m in ours.backbone.body.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert len(frozen) == 53 and all(m.eps == 0.0 for m in frozen)
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in theirs.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters())


def test_parameter_counts_keys_and_official_url():
    with torch.device("meta"):
        ours = get_model("retinanet_resnet50_fpn")
        theirs = torchvision.models.detection.retinanet_resnet50_fpn(weights=None,
                                                                     weights_backbone=None)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert sum(p.numel() for p in ours.parameters()) == PARAMETERS_91
    # torchvision's documented count is the frozen one (the batch norms' weights are buffers)
    assert PARAMETERS_91 - BATCH_NORM_PARAMETERS == 34_014_999
    assert sum(m.weight.numel() + m.bias.numel() for m in ours.backbone.body.modules()
               if isinstance(m, torch.nn.BatchNorm2d)) == BATCH_NORM_PARAMETERS
    assert official_url("retinanet_resnet50_fpn") == (
        "https://download.pytorch.org/models/retinanet_resnet50_fpn_coco-eeacb38b.pth")


def test_head_outputs_anchors_and_detections_equal_torchvision(models):
    _, _, expected, got = models
    assert_bitwise(got["batch"].tensors, expected["batch"].tensors)  # resized and padded
    # 5 levels P3 .. P7, 9 anchors per position
    assert len(got["maps"]) == 5
    for a, b in zip(got["maps"], expected["maps"], strict=True):
        assert_bitwise(a, b)
    count = sum(m.shape[-2] * m.shape[-1] for m in got["maps"]) * 9
    assert got["head"]["cls_logits"].shape == (2, count, 5)
    for key in ("cls_logits", "bbox_regression"):
        assert_bitwise(got["head"][key], expected["head"][key])
    for a, b in zip(got["anchors"], expected["anchors"], strict=True):
        assert_bitwise(a, b)
    for image, o, t in zip(images(), got["detections"], expected["detections"], strict=True):
        assert sorted(o) == ["boxes", "labels", "scores"] and len(t["boxes"]) >= 50
        for k in t:
            assert_bitwise(o[k], t[k])
        h, w = image.shape[-2:]  # boxes inside the input image, best first, above 0.05
        assert (o["boxes"] >= 0).all() and (o["boxes"][:, 2] <= w).all()
        assert (o["boxes"][:, 3] <= h).all()
        assert (o["scores"][:-1] >= o["scores"][1:]).all() and (o["scores"] > 0.05).all()


def test_no_score_above_the_threshold_gives_empty_detections(models):
    """A threshold no sigmoid score passes: empty detections of the right types, as
    torchvision's post-processing gives on the same head outputs (split by level as its
    forward does)."""
    theirs, ours, expected, got = models
    per_level = [m.shape[-2] * m.shape[-1] * 9 for m in expected["maps"]]
    split = {k: list(v.split(per_level, dim=1)) for k, v in expected["head"].items()}
    theirs.score_thresh = 0.999
    try:
        their_empty = theirs.postprocess_detections(
            split, [list(a.split(per_level)) for a in expected["anchors"]],
            expected["batch"].image_sizes)
    finally:
        theirs.score_thresh = 0.05
    sizes = got["batch"].image_sizes
    outputs = {**got["head"], "anchors": got["anchors"], "anchors_per_level": per_level,
               "image_sizes": sizes, "original_sizes": sizes}
    empty = ours.postprocess(outputs, score_thresh=0.999)
    for o, t in zip(empty, their_empty, strict=True):
        assert o["boxes"].shape == (0, 4)
        for k in t:
            assert_bitwise(o[k], t[k])
    with pytest.raises(ValueError, match="unknown postprocess options"):
        ours.postprocess(outputs, score_threshold=0.5)


@pytest.mark.parametrize("where", ["backbone.body.layer4.2.conv3.weight",
                                   "head.regression_head.bbox_reg.weight"])
def test_one_changed_weight_changes_the_detections(models, where):
    _, ours, expected, _ = models
    weight = dict(ours.named_parameters())[where]
    original = weight.detach().clone()
    with torch.no_grad():
        weight.view(-1)[0] += 0.5
        try:
            got = ours(images()[:1])
        finally:
            weight.copy_(original)  # exactly (w + 0.5 - 0.5 need not be w)
    boxes, their_boxes = got[0]["boxes"], expected["detections"][0]["boxes"]
    n = min(len(boxes), len(their_boxes))
    assert not torch.equal(boxes[:n], their_boxes[:n])


TARGETS = {
    "objects in both": [([[10, 20, 90, 95], [60, 5, 130, 60]], [1, 4]), ([[5, 5, 60, 80]], [2])],
    "one image without objects": [([[10, 20, 90, 95], [60, 5, 130, 60]], [1, 4]), ([], [])],
    "no objects at all": [([], []), ([], [])],
}


def test_training_forward_equals_torchvision_and_gradients_flow(models):
    """The whole training forward (targets resized with their images, anchors matched, the
    losses) on a batch whose second image has no objects."""
    theirs, ours, _, _ = models
    batch, truth = images(), targets(TARGETS["one image without objects"])
    theirs.train(), ours.train()
    try:
        expected = theirs(batch, truth)
        got = ours(batch, truth)
    finally:
        theirs.eval(), ours.eval()
    assert set(got) == set(expected) == {"classification", "bbox_regression"}
    for key in got:  # same matching and arithmetic: bitwise equal
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    assert got["classification"] > 0 and got["bbox_regression"] > 0
    sum(got.values()).backward()
    parameters = dict(ours.named_parameters())
    for part in ("backbone.body.layer4.0.conv1.weight", "backbone.fpn.extra_blocks.p7.weight",
                 "head.classification_head.cls_logits.weight",
                 "head.regression_head.bbox_reg.weight"):
        grad = parameters[part].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, part
    assert parameters["backbone.body.layer1.0.conv1.weight"].grad is None  # frozen, as theirs
    ours.zero_grad(set_to_none=True)


@pytest.mark.parametrize("case", sorted(TARGETS))
def test_losses_equal_torchvision_on_the_same_outputs(models, case):
    """Frozen batch norm and no dropout: the training forward's network outputs are the
    recorded evaluation ones. The losses of both models on them, for two images with objects
    in both, in one, in none (then only the focal loss of the background remains)."""
    theirs, ours, expected, got = models
    batch = images()
    _, their_targets = theirs.transform(batch, targets(TARGETS[case]))
    _, our_targets = ours.transform(batch, targets(TARGETS[case]))
    anchors = expected["anchors"]
    their_loss = theirs.head.compute_loss(their_targets, expected["head"], anchors,
                                          their_matches(theirs, their_targets, anchors))
    our_loss = ours.loss({**got["head"], "anchors": got["anchors"]}, our_targets)
    assert set(our_loss) == set(their_loss) == {"classification", "bbox_regression"}
    for key in our_loss:
        torch.testing.assert_close(our_loss[key], their_loss[key], rtol=0, atol=0, msg=key)
    assert our_loss["classification"] > 0
    assert (our_loss["bbox_regression"] == 0) == (case == "no objects at all")


def test_focal_loss_by_hand_normalised_by_the_foreground():
    """Zero logits (p = 1/2 everywhere): each element's focal loss is ``alpha_t (1/2)^2 ln 2``.
    Anchor 0 is foreground (label 1), anchor 1 background, anchor 2 ignored: the two counted
    anchors give 1 positive (alpha 0.25) and 3 negatives (0.75), divided by 1 foreground."""
    logits = torch.zeros(3, 2)
    matched = torch.tensor([0, -1, -2])
    loss = focal_classification_loss(logits, torch.tensor([1]), matched)
    expected = (0.25 + 3 * 0.75) * 0.25 * math.log(2)
    torch.testing.assert_close(loss, torch.tensor(expected))
    # two foreground anchors halve the per-anchor share: the sum over both, divided by 2
    two = focal_classification_loss(torch.zeros(2, 2), torch.tensor([1]), torch.tensor([0, 0]))
    torch.testing.assert_close(two, torch.tensor(2 * (0.25 + 0.75) * 0.25 * math.log(2) / 2))


def test_box_loss_l1_and_the_papers_smooth_l1():
    """An anchor matched to itself moved by (dx, dy) = (0.2, -0.5) of its size: deltas
    (0.2, -0.5, 0, 0); a zero prediction costs 0.7 in L1 and 0.5 (0.2^2 + 0.5^2) = 0.145 in
    smooth L1."""
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    boxes = torch.tensor([[2.0, -5.0, 12.0, 5.0]])
    matched = torch.tensor([0, -1])
    zero = torch.zeros(2, 4)
    torch.testing.assert_close(anchor_box_loss(zero, anchors, boxes, matched),
                               torch.tensor(0.7))
    torch.testing.assert_close(anchor_box_loss(zero, anchors, boxes, matched,
                                               box_loss="smooth_l1"), torch.tensor(0.145))


def test_bad_input_is_a_clear_error(models):
    _, ours, _, _ = models
    with pytest.raises(ValueError, match="box_loss"):
        get_model("retinanet_resnet50_fpn", box_loss="l2")
    ours.train()
    try:
        with pytest.raises(ValueError, match="targets are needed"):
            ours(images())
        with pytest.raises(ValueError, match="degenerate"):
            ours(images()[:1], [{"boxes": torch.tensor([[10.0, 10, 5, 20]]),
                                  "labels": torch.tensor([1])}])
    finally:
        ours.eval()
