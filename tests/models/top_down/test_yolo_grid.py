"""The YOLO grid output volume: shape, decoding, targets, loss and post-processing."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from segedu.models.registry import get_model
from segedu.models.top_down.yolo_grid import (
    YOLOV2_VOC_ANCHORS,
    YoloGridHead,
    decode_yolo_grid,
    yolo_grid,
    yolo_output_channels,
)

ANCHORS = torch.tensor([[0.1, 0.1], [0.3, 0.2], [0.2, 0.5]])


def _logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p) - torch.log1p(-p)


def _perfect_output(target, responsible, *, anchors=None, big=30.0):
    """The raw output that decodes exactly to the target (inverse of the parametrisation)."""
    b = responsible.shape[-1]
    out = torch.zeros(target.shape, dtype=torch.float64)
    out[..., 4: 5 * b: 5] = -big  # no object
    for row, col, k in responsible.nonzero().tolist():
        x, y, w, h, _ = target[row, col, 5 * k: 5 * k + 5].double()
        size = ((torch.log(w / anchors[k, 0]), torch.log(h / anchors[k, 1])) if anchors is not None
                else (_logit(w), _logit(h)))
        out[row, col, 5 * k: 5 * k + 5] = torch.stack([_logit(x), _logit(y), *size,
                                                       torch.tensor(big).double()])
    out[..., 5 * b:] = target[..., 5 * b:].double() * 2 * big - big  # one-hot -> +-big logits
    return out[None]


def test_the_course_example_is_19_by_19_by_45():
    model = get_model("yolo_grid").eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 608, 608))
    assert out.shape == (2, 19, 19, 45)
    assert sum(p.numel() for p in model.parameters()) == 855_613
    assert "855,613" in yolo_grid.__doc__
    head = YoloGridHead(in_channels=8, grid_size=7, num_boxes=2, num_classes=20)  # YOLO v1: 7x7x30
    assert head(torch.rand(1, 8, 7, 7)).shape == (1, 7, 7, 30)


def test_output_channels_match_the_papers_and_the_head():
    # YOLO v1 (Redmon et al. 2016): S x S x (B * 5 + C) = 7 x 7 x 30 for B = 2, C = 20.
    assert yolo_output_channels(2, 20, shared_classes=True) == 30
    # YOLOv2 (Redmon & Farhadi 2017): "5 boxes with 5 coordinates each and 20 classes per box so
    # 125 filters"; YOLOv3 (2018): 3 * (4 + 1 + 80) = 255 per scale on COCO.
    assert yolo_output_channels(5, 20) == 125
    assert yolo_output_channels(3, 80) == 255
    # The course's volume: YOLOv2's 5 anchors with v1's shared classes, 19 x 19 x 45.
    assert yolo_output_channels(5, 20, shared_classes=True) == 45
    # The head's 1x1 convolution has exactly that many output channels, for any B and C.
    for b, c in ((1, 1), (2, 20), (5, 20), (3, 7)):
        head = YoloGridHead(in_channels=4, grid_size=3, num_boxes=b, num_classes=c)
        assert head.out.out_channels == yolo_output_channels(b, c, shared_classes=True)
        assert head(torch.rand(1, 4, 3, 3)).shape[-1] == b * 5 + c
    for bad in (0, -1, 2.0, True, None):
        with pytest.raises(ValueError, match="num_anchors"):
            yolo_output_channels(bad, 20)
        with pytest.raises(ValueError, match="num_classes"):
            yolo_output_channels(5, bad)
    with pytest.raises(TypeError, match="shared_classes"):
        yolo_output_channels(5, 20, shared_classes=1)


def test_decoding_one_confident_box_gives_it_in_pixels():
    s, b, c = 4, 3, 2
    out = torch.full((1, s, s, 5 * b + c), 0.0)
    out[..., 4::5][..., :b] = -20  # every predictor: no object
    # cell (row 2, col 1), predictor 1: centre offset (0.5, 0.5), w = 0.3 * e^0, h = 0.2 * e^{ln 2}
    # = 0.4
    out[0, 2, 1, 5:10] = torch.tensor([0.0, 0.0, 0.0, math.log(2.0), 20.0])
    out[0, 2, 1, 5 * b:] = torch.tensor([0.0, 3.0])
    boxes, conf, probs = decode_yolo_grid(out, image_size=(200, 400), anchors=ANCHORS)
    assert (boxes.shape == (1, s * s * b, 4) and conf.shape == (1, s * s * b)
            and probs.shape == (1, s * s * b, c))
    index = (2 * s + 1) * b + 1  # row-major over (row, col, b)
    # centre: x = (1 + 0.5) / 4 * 400 = 150, y = (2 + 0.5) / 4 * 200 = 125; size 120 x 80
    torch.testing.assert_close(boxes[0, index], torch.tensor([90.0, 85.0, 210.0, 165.0]))
    assert conf[0].argmax() == index and conf[0, index] > 0.999
    torch.testing.assert_close(probs[0, index], torch.softmax(torch.tensor([0.0, 3.0]), 0))
    # without anchors (v1): w = sigmoid(0) = 0.5 of the width
    boxes_v1, _, _ = decode_yolo_grid(out, image_size=(200, 400), num_boxes=b)
    # w = sigmoid(0) = 1/2 of 400 px, h = sigmoid(ln 2) = 2/3 of 200 px
    torch.testing.assert_close(boxes_v1[0, index],
                               torch.tensor([50.0, 125 - 200 / 3, 250.0, 125 + 200 / 3]))


@pytest.mark.parametrize("anchors", [ANCHORS, None])
def test_encode_then_decode_recovers_the_target_boxes(anchors):
    s, b, c, size = 5, 3, 4, (160, 240)
    boxes = torch.tensor([[10.0, 20.0, 60.0, 50.0], [100.0, 40.0, 230.0, 150.0],
                          [120.0, 5.0, 140.0, 30.0]])
    labels = torch.tensor([0, 3, 1])
    predicted = None
    if anchors is None:  # v1: the best current prediction is responsible; give one per cell
        predicted = torch.zeros(s * s * b, 4)
        predicted[:, 2:] = 1.0
    model = yolo_grid(grid_size=s, num_boxes=b, num_classes=c, anchors=anchors)
    encoded = model.targets([{"boxes": boxes, "labels": labels}], image_size=size,
                            predicted_boxes=None if predicted is None else predicted[None])
    target, responsible = encoded["target"][0], encoded["responsible"][0]
    assert responsible.sum() == 3
    decoded, conf, probs = decode_yolo_grid(_perfect_output(target, responsible, anchors=anchors),
                                            image_size=size, anchors=anchors, num_boxes=b)
    found = conf[0] > 0.5
    assert found.sum() == 3
    order = decoded[0, found, 0].argsort()
    torch.testing.assert_close(decoded[0, found][order].float(), boxes[boxes[:, 0].argsort()],
                               atol=1e-4, rtol=0)
    assert probs[0, found].argmax(-1)[order].tolist() == labels[boxes[:, 0].argsort()].tolist()


def test_the_responsible_predictor_has_the_best_anchor_shape():
    # 0.2 x 0.45 of a 200 px image: nearest anchor 2's shape
    box = torch.tensor([[0.0, 0.0, 40.0, 90.0]])
    model = yolo_grid(grid_size=4, num_boxes=3, num_classes=2, anchors=ANCHORS)
    responsible = model.targets([{"boxes": box, "labels": torch.tensor([0])}],
                                image_size=200)["responsible"]
    # centre (20, 45): cell (row 0, col 0) of 50 px
    assert responsible.nonzero().tolist() == [[0, 0, 0, 2]]


@pytest.mark.parametrize("anchors", [ANCHORS, None])
def test_loss_is_zero_for_the_perfect_output_and_positive_otherwise(anchors):
    s, b, c = 5, 3, 4
    boxes = torch.tensor([[10.0, 20.0, 60.0, 50.0], [100.0, 40.0, 230.0, 150.0]])
    predicted = torch.zeros(s * s * b, 4) if anchors is None else None
    model = yolo_grid(grid_size=s, num_boxes=b, num_classes=c, anchors=anchors)
    encoded = model.targets([{"boxes": boxes, "labels": torch.tensor([2, 1])}],
                            image_size=(160, 240),
                            predicted_boxes=None if predicted is None else predicted[None])
    target, responsible = encoded["target"][0], encoded["responsible"][0]
    perfect = _perfect_output(target, responsible, anchors=anchors)
    encoded = {"target": target[None].double(), "responsible": responsible[None]}
    responsible = responsible[None]

    def total_loss(outputs):
        losses = model.loss(outputs, encoded)
        assert set(losses) == {"loss_box", "loss_confidence", "loss_classifier"}
        return sum(losses.values())

    zero = total_loss(perfect)
    assert zero.abs() < 1e-10
    row, col, k = responsible[0].nonzero()[0].tolist()
    other = (k + 1) % b
    # any number of the responsible predictor, any class logit of its cell, another
    # predictor's confidence
    for channel in [*range(5 * k, 5 * k + 5), *range(5 * b, 5 * b + c), 5 * other + 4]:
        wrong = perfect.clone()
        # a saturated logit (confidence, class) flips its sign, the others move by 1
        value = wrong[0, row, col, channel]
        wrong[0, row, col, channel] = -value if value.abs() >= 20 else value + 1.0
        assert total_loss(wrong) > 1e-6, channel
    random = torch.randn(perfect.shape, dtype=torch.float64, requires_grad=True)
    loss = total_loss(random)
    loss.backward()
    assert loss > 0 and torch.isfinite(random.grad).all() and random.grad.abs().sum() > 0


def test_loss_weights_follow_the_paper():
    # one object, only the "no object" confidences wrong by 0.5: 0.5 * (#predictors - 1) * 0.25
    s, b, c = 2, 2, 1
    model = yolo_grid(grid_size=s, num_boxes=b, num_classes=c, anchors=[[0.5, 0.5], [1.0, 1.0]])
    encoded = model.targets([{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]),
                              "labels": torch.tensor([0])}], image_size=20)
    target, responsible = encoded["target"][0], encoded["responsible"][0]
    out = _perfect_output(target, responsible, anchors=torch.tensor([[0.5, 0.5], [1.0, 1.0]]))
    out[..., 4: 5 * b: 5] = torch.where(responsible[None], out[..., 4: 5 * b: 5],
                                        torch.zeros(()).double())
    losses = model.loss(out, {"target": target[None].double(), "responsible": responsible[None]})
    # all of it is the "no object" confidence term
    torch.testing.assert_close(losses["loss_confidence"],
                               torch.tensor(0.5 * (s * s * b - 1) * 0.25, dtype=torch.float64))
    assert losses["loss_box"].abs() < 1e-10 and losses["loss_classifier"].abs() < 1e-10


def test_postprocess_matches_torchvision_batched_nms():
    g = torch.Generator().manual_seed(0)
    n, s, b, c = 2, 4, 3, 3
    model = yolo_grid(grid_size=s, num_boxes=b, num_classes=c, anchors=ANCHORS)
    outputs = torch.randn(n, s, s, 5 * b + c, generator=g)
    # the decoding is the free layout function's; the rest must be torchvision's batched NMS
    boxes, confidence, class_probs = decode_yolo_grid(outputs, image_size=(100, 90),
                                                      anchors=ANCHORS)
    results = model.postprocess(outputs, image_size=(100, 90), score_threshold=0.2,
                                iou_threshold=0.4)
    assert len(results) == n
    for i, res in enumerate(results):
        prob, label = class_probs[i].max(-1)
        score = confidence[i] * prob
        keep = score >= 0.2
        ref = torchvision.ops.batched_nms(boxes[i][keep], score[keep], label[keep], 0.4)
        torch.testing.assert_close(res["boxes"], boxes[i][keep][ref])
        torch.testing.assert_close(res["scores"], score[keep][ref])
        assert (res["labels"].tolist() == label[keep][ref].tolist()
                and res["labels"].dtype == torch.int64)
        assert 0 < len(ref) < keep.sum()  # NMS did remove something
    # without image_size: the 32 S x 32 S images that the network takes
    default = model.postprocess(outputs, score_threshold=0.2, iou_threshold=0.4)
    boxes_128, _, _ = decode_yolo_grid(outputs, image_size=128, anchors=ANCHORS)
    assert {tuple(x) for x in default[0]["boxes"].tolist()} <= {tuple(x) for x in
                                                                 boxes_128[0].tolist()}


def test_bad_input_gives_clear_errors():
    out = torch.zeros(1, 4, 4, 17)
    with pytest.raises(ValueError, match="num_boxes"):
        decode_yolo_grid(out, image_size=128)
    with pytest.raises(ValueError, match=r"\(N, S, S"):
        decode_yolo_grid(torch.zeros(4, 4, 17), image_size=128, num_boxes=3)
    with pytest.raises(ValueError, match="too few"):
        decode_yolo_grid(torch.zeros(1, 4, 4, 10), image_size=128, num_boxes=2)
    with pytest.raises(ValueError, match="anchors"):
        decode_yolo_grid(out, image_size=128,
                         anchors=torch.tensor([[0.1, -0.2], [0.1, 0.1], [0.1, 0.1]]))
    with pytest.raises(ValueError, match="image_size"):
        decode_yolo_grid(out, image_size=0, num_boxes=3)
    box = torch.tensor([[0.0, 0.0, 5.0, 5.0]])
    with pytest.raises(ValueError, match="labels"):
        yolo_grid(grid_size=4, num_boxes=1, num_classes=4, anchors=None).targets(
            [{"boxes": box, "labels": torch.tensor([4])}], image_size=32)
    with pytest.raises(ValueError, match="predicted_boxes"):
        yolo_grid(grid_size=4, num_boxes=2, num_classes=4, anchors=None).targets(
            [{"boxes": box, "labels": torch.tensor([0])}], image_size=32)
    with pytest.raises(ValueError, match="608x608"):
        get_model("yolo_grid")(torch.rand(1, 3, 320, 320))
    with pytest.raises(ValueError, match="responsible"):
        yolo_grid(grid_size=4, num_boxes=3, num_classes=2, anchors=None).loss(
            out, {"target": out, "responsible": torch.zeros(1, 4, 4)})
    assert len(YOLOV2_VOC_ANCHORS) == 5
