"""SSD300 (VGG-16) equals torchvision's ``ssd300_vgg16`` given torchvision's weights: the same
feature maps, default boxes and raw head outputs, the same detections in evaluation (none when
no score passes the threshold), the same losses in training (images without objects included);
one changed weight changes the outputs. The default boxes, the matching and the hard-negative
mining are checked by hand.

The two models are built once per module; 4 classes keep the heads small. SSD resizes every
image to 300 x 300, so the inputs are small non-square images of two sizes.
"""

import math

import pytest
import torch
import torchvision

import segedu.models.top_down.detection  # noqa: F401  (registers the models)
from segedu.models.registry import get_model, official_url
from segedu.models.top_down.detection.ssd import DefaultBoxGenerator, DefaultBoxMatcher
from segedu.models.top_down.detection.ssd.loss import hard_negatives

from ._one_stage import assert_bitwise, images, record, targets, their_matches

PARAMETERS_91 = 35_641_826  # torchvision's documented count


def _torchvision_ssd() -> torch.nn.Module:
    """torchvision's ``ssd300_vgg16`` (4 classes) with random weights of its own layout. Its
    builder would first initialise a whole VGG-16 classifier (120 M weights) that SSD drops:
    build it on the meta device instead and draw every convolution as torchvision's VGG does
    (Kaiming normal, fan out) with small random biases, and the L2 scales around 20."""
    with torch.device("meta"):
        model = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None,
                                                          num_classes=4)
    model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                module.weight.normal_(0, math.sqrt(2 / fan_out), generator=g)
                module.bias.uniform_(-0.1, 0.1, generator=g)
        model.backbone.scale_weight.copy_(20 + torch.rand(512, generator=g))
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(torchvision's model, segedu's loaded from its weights), both in eval mode, and what
    each computed on the two images (VGG-16 at 300 x 300 is the cost: run it once)."""
    theirs = _torchvision_ssd().eval()
    path = tmp_path_factory.mktemp("ssd") / "ssd.pth"
    torch.save(theirs.state_dict(), path)
    ours = get_model("ssd300_vgg16", weights=path, num_classes=4).eval()
    return theirs, ours, record(theirs, images()), record(ours, images())


def test_parameter_counts_keys_and_official_url(models):
    theirs, ours, _, _ = models
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.device("meta"):
        full = get_model("ssd300_vgg16")
    assert sum(p.numel() for p in full.parameters()) == PARAMETERS_91
    assert official_url("ssd300_vgg16") == (
        "https://download.pytorch.org/models/ssd300_vgg16_coco-b556d3b4.pth")


def test_maps_default_boxes_head_outputs_and_detections_equal_torchvision(models):
    _, _, expected, got = models
    assert_bitwise(got["batch"].tensors, expected["batch"].tensors)  # stretched to 300 x 300
    assert got["batch"].tensors.shape == (2, 3, 300, 300)
    # six maps, 38 .. 1 pixels, conv4_3 L2-normalised and scaled
    assert [m.shape[-1] for m in got["maps"]] == [38, 19, 10, 5, 3, 1]
    for a, b in zip(got["maps"], expected["maps"], strict=True):
        assert_bitwise(a, b)
    assert got["head"]["cls_logits"].shape == (2, 8732, 4)
    for key in ("cls_logits", "bbox_regression"):
        assert_bitwise(got["head"][key], expected["head"][key])
    for a, b in zip(got["anchors"], expected["anchors"], strict=True):
        assert_bitwise(a, b)
    for o, t in zip(got["detections"], expected["detections"], strict=True):
        assert sorted(o) == ["boxes", "labels", "scores"] and len(t["boxes"]) >= 50
        for k in t:  # the same operations in the same order: bitwise equal
            assert_bitwise(o[k], t[k])
        assert 1 <= int(o["labels"].min()) and int(o["labels"].max()) <= 3  # no background


def test_no_score_above_the_threshold_gives_empty_detections(models):
    """A threshold no softmax probability passes: empty detections of the right types, as
    torchvision's post-processing gives on the same head outputs."""
    theirs, ours, expected, got = models
    sizes = got["batch"].image_sizes
    theirs.score_thresh = 1.0
    try:
        their_empty = theirs.postprocess_detections(expected["head"], expected["anchors"],
                                                    expected["batch"].image_sizes)
    finally:
        theirs.score_thresh = 0.01
    outputs = {**got["head"], "anchors": got["anchors"], "anchors_per_level": [],
               "image_sizes": sizes, "original_sizes": sizes}
    empty = ours.postprocess(outputs, score_thresh=1.0)
    for o, t in zip(empty, their_empty, strict=True):
        assert o["boxes"].shape == (0, 4)
        for k in t:
            assert_bitwise(o[k], t[k])


def test_one_changed_weight_changes_the_outputs(models):
    """The L2 normalisation's scale of one channel of conv4_3."""
    _, ours, expected, _ = models
    weight = ours.backbone.scale_weight
    original = weight.detach().clone()
    with torch.no_grad():
        weight[0] += 0.5
        try:
            got = ours.head_outputs(ours.transform(images()[:1])[0])
        finally:
            weight.copy_(original)  # exactly (w + 0.5 - 0.5 need not be w)
    assert not torch.equal(got["cls_logits"][0], expected["head"]["cls_logits"][0])
    # the outputs' split over the maps: 4 or 6 default boxes per cell
    assert got["anchors_per_level"] == [38 * 38 * 4, 19 * 19 * 6, 10 * 10 * 6, 5 * 5 * 6,
                                        3 * 3 * 4, 1 * 4]


# a small box (40 x 24 pixels at 300 x 300) matches conv4_3's default boxes, the large ones the
# deeper maps'
TARGETS = {
    "objects in both": [([[10, 20, 90, 95], [60, 5, 130, 60], [40, 60, 59, 68]], [1, 3, 2]),
                        ([[5, 5, 60, 80]], [2])],
    "one image without objects": [([[10, 20, 90, 95], [60, 5, 130, 60], [40, 60, 59, 68]],
                                   [1, 3, 2]), ([], [])],
    "no objects at all": [([], []), ([], [])],
}


def test_training_forward_equals_torchvision_and_gradients_flow(models):
    """The whole training forward (targets resized with their image, matched, the loss), one
    image; gradients reach the L2 normalisation's scale through the small box."""
    theirs, ours, _, _ = models
    batch, truth = images()[:1], targets(TARGETS["objects in both"])[:1]
    theirs.train(), ours.train()
    try:
        expected = theirs(batch, truth)
        got = ours(batch, truth)
    finally:
        theirs.eval(), ours.eval()
    assert set(got) == set(expected) == {"classification", "bbox_regression"}
    for key in got:  # same matching, mining and arithmetic: bitwise equal
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    assert got["classification"] > 0 and got["bbox_regression"] > 0
    sum(got.values()).backward()
    parameters = dict(ours.named_parameters())
    for part in ("backbone.scale_weight", "backbone.features.21.weight",
                 "backbone.extra.0.7.1.weight", "head.classification_head.module_list.0.weight",
                 "head.regression_head.module_list.5.weight"):
        grad = parameters[part].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, part
    ours.zero_grad(set_to_none=True)


@pytest.mark.parametrize("case", sorted(TARGETS))
def test_losses_equal_torchvision_on_the_same_outputs(models, case):
    """VGG has neither batch norm nor dropout, so the training forward's network outputs are the
    recorded evaluation ones: the losses of both models on them, for a batch of two images with
    objects in both, in one, in none."""
    theirs, ours, expected, got = models
    batch = images()
    _, their_targets = theirs.transform(batch, targets(TARGETS[case]))
    _, our_targets = ours.transform(batch, targets(TARGETS[case]))
    for a, b in zip(our_targets, their_targets, strict=True):
        torch.testing.assert_close(a["boxes"], b["boxes"], rtol=0, atol=0)
    anchors = expected["anchors"]
    their_loss = theirs.compute_loss(their_targets, expected["head"], anchors,
                                     their_matches(theirs, their_targets, anchors))
    our_loss = ours.loss({**got["head"], "anchors": got["anchors"]}, our_targets)
    assert set(our_loss) == set(their_loss) == {"classification", "bbox_regression"}
    for key in our_loss:
        torch.testing.assert_close(our_loss[key], their_loss[key], rtol=0, atol=0, msg=key)
    if case == "no objects at all":  # no positives, hence no mined negatives: nothing to learn
        assert our_loss["classification"] == 0 and our_loss["bbox_regression"] == 0
    else:
        assert our_loss["classification"] > 0 and our_loss["bbox_regression"] > 0


def test_default_boxes_by_the_papers_formula():
    """SSD300's first map (38 x 38, step 8, scale 0.07, next 0.15, ratio 2): the first cell's
    centre is (0.5 / 37.5) of the image; its four boxes are the squares of side 0.07 and
    sqrt(0.07 x 0.15), then 0.07 sqrt(2) wide x 0.07 / sqrt(2) high, and its transpose."""
    generator = DefaultBoxGenerator(aspect_ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]],
                                    scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
                                    steps=[8, 16, 32, 64, 100, 300])
    assert generator.num_anchors_per_location() == [4, 6, 6, 6, 4, 4]
    grids = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    boxes = generator.normalised_boxes(grids, (300, 300))
    assert len(boxes) == 8732 == sum(h * w * a for (h, w), a in
                                     zip(grids, [4, 6, 6, 6, 4, 4], strict=True))
    c, s, r, s_prime = 0.5 / 37.5, 0.07, math.sqrt(2), math.sqrt(0.07 * 0.15)
    expected = torch.tensor([[c, c, s, s], [c, c, s_prime, s_prime],
                             [c, c, s * r, s / r], [c, c, s / r, s * r]])
    torch.testing.assert_close(boxes[:4], expected)
    # the last map's single cell holds the largest boxes, clipped to the image: sqrt(0.87 x 1.05)
    # < 1 stays, 0.87 sqrt(2) > 1 is clipped to 1
    last = boxes[-4:]
    torch.testing.assert_close(last[:, :2], torch.full((4, 2), 0.5))
    torch.testing.assert_close(last[1, 2:], torch.full((2,), math.sqrt(0.87 * 1.05)))
    assert last[2, 2] == 1.0 and last[3, 3] == 1.0


def test_matching_gives_every_box_its_best_default_box():
    """IoU >= 0.5 matches; below it is background, except each ground truth's best default box,
    however low (box 1's best IoU is 0.2)."""
    iou = torch.tensor([[0.7, 0.55, 0.1, 0.0],
                        [0.0, 0.1, 0.2, 0.15]])
    matches = DefaultBoxMatcher(iou_thresh=0.5)(iou)
    assert matches.tolist() == [0, 0, 1, -1]


def test_hard_negative_mining_keeps_three_negatives_per_positive():
    """One positive (box 1): the three background boxes of highest loss (5, 4 and 3) are kept,
    the easier ones (2 and 0) dropped; the positive's own high loss does not count as one."""
    cls_loss = torch.tensor([[5.0, 9.0, 3.0, 2.0, 4.0, 0.0]])
    foreground = torch.tensor([[False, True, False, False, False, False]])
    negatives = hard_negatives(cls_loss, foreground, 3.0)
    assert negatives.tolist() == [[True, False, True, False, True, False]]
    # an image without positives keeps no negatives
    assert not hard_negatives(cls_loss, torch.zeros_like(foreground), 3.0).any()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="num_classes counts the background"):
        get_model("ssd300_vgg16", num_classes=1)
    with pytest.raises(ValueError, match="need 7 scales for 6 feature maps"):
        DefaultBoxGenerator(aspect_ratios=[[2]] * 6, scales=[0.1, 0.2])
