"""YOLACT: assembly, cropping, matching, OHEM, the loss, the model's interface and a
short overfit."""

from __future__ import annotations

import pytest
import torch

from segedu.data import SyntheticScenes
from segedu.models.registry import get_model
from segedu.models.top_down.yolact import (
    assemble_masks,
    box_crop_masks,
    crop_masks,
    fast_nms,
    match_anchors,
    ohem_negatives,
    yolact,
)
from segedu.models.top_down.yolact.loss import BOX_CODER_WEIGHTS, downsample_masks
from segedu.models.top_down.yolact.matching import BACKGROUND, IGNORE
from segedu.ops import batched_nms, encode_boxes


def _tiny(**kwargs):
    """A YOLACT small enough for CPU tests."""
    defaults = dict(backbone_width=8, fpn_channels=16, num_prototypes=8)
    return yolact(**{**defaults, **kwargs})


def _scene_batch(n: int, size: int = 64, seed: int = 0):
    ds = SyntheticScenes(size=size, length=n, seed=seed)
    images, targets = [], []
    for image, t in ds:
        images.append(image)
        targets.append({"boxes": t["boxes"].float(), "labels": t["labels"] - 2,
                        "masks": t["masks"]})
    return images, targets


# -- assembly and cropping ------------------------------------------------------------------------
def test_assembly_equals_a_loop_of_sigmoid_p_c():
    g = torch.Generator().manual_seed(0)
    prototypes = torch.rand(5, 7, 9, generator=g)  # (k, h, w)
    coefficients = torch.rand(3, 5, generator=g) * 2 - 1  # (n, k)
    masks = assemble_masks(prototypes, coefficients)
    assert masks.shape == (3, 7, 9)
    for d in range(3):
        for i in range(7):
            for j in range(9):
                expected = torch.sigmoid(prototypes[:, i, j] @ coefficients[d])
                torch.testing.assert_close(masks[d, i, j], expected)


def test_assembly_rejects_mismatched_k():
    with pytest.raises(ValueError, match="coefficients must be"):
        assemble_masks(torch.rand(4, 3, 3), torch.rand(2, 5))


def test_crop_zeroes_exactly_outside_the_box():
    masks = torch.ones(1, 6, 8)
    # pixel centres x = 0.5 .. 7.5: columns 2, 3, 4 lie in [1.6, 5.0]; rows 1, 2 in [1.0, 2.5]
    cropped = crop_masks(masks, torch.tensor([[1.6, 1.0, 5.0, 2.5]]))
    expected = torch.zeros(1, 6, 8)
    expected[0, 1:3, 2:5] = 1
    torch.testing.assert_close(cropped, expected)
    # a box with integer (pixel-edge) corners keeps exactly its pixels
    inside = box_crop_masks(torch.tensor([[2.0, 1.0, 5.0, 4.0]]), 6, 8)
    assert inside[0].nonzero().tolist() == [[i, j] for i in range(1, 4) for j in range(2, 5)]


# -- matching and OHEM -----------------------------------------------------------------------------
def test_matching_hand_case():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    anchors = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],  # IoU 1 with box 0 -> 0
        [0.0, 0.0, 10.0, 20.0],  # IoU 0.5 with box 0 -> 0
        [0.0, 0.0, 10.0, 22.0],  # IoU 10/22 = 0.4545 -> ignored
        [0.0, 0.0, 10.0, 30.0],  # IoU 1/3 -> background
        [50.0, 50.0, 60.0, 60.0],  # no overlap -> background
        [22.0, 22.0, 40.0, 40.0],  # IoU 64/(100+324-64) = 0.178 with box 1, but its best -> 1
    ])
    matches = match_anchors(anchors, gt)
    assert matches.tolist() == [0, 0, IGNORE, BACKGROUND, BACKGROUND, 1]
    assert match_anchors(anchors, gt[:0]).tolist() == [BACKGROUND] * 6


def test_ohem_keeps_three_negatives_per_positive_the_hardest():
    matches = torch.full((20,), BACKGROUND)
    matches[[0, 1]] = 0  # two positives
    matches[2] = IGNORE
    loss = torch.arange(20.0)
    loss[2] = 100.0  # ignored: never chosen, however hard
    chosen = ohem_negatives(loss, matches)
    assert chosen.sum() == 6
    assert chosen.nonzero().squeeze(1).tolist() == [14, 15, 16, 17, 18, 19]
    # fewer negatives than 3 per positive: all of them
    matches = torch.tensor([0, 0, BACKGROUND, IGNORE])
    assert ohem_negatives(torch.rand(4), matches).tolist() == [False, False, True, False]


# -- the loss --------------------------------------------------------------------------------------
def _loss_case():
    """A 32x32 image, two objects, 16x16 prototypes, a grid of anchors."""
    image = 32
    masks = torch.zeros(2, image, image, dtype=torch.bool)
    masks[0, 4:12, 4:14] = True
    masks[1, 18:30, 16:28] = True
    target = {"boxes": torch.tensor([[4.0, 4.0, 14.0, 12.0], [16.0, 18.0, 28.0, 30.0]]),
              "labels": torch.tensor([1, 2]), "masks": masks}
    centres = torch.arange(2.0, 32.0, 4.0)
    cy, cx = torch.meshgrid(centres, centres, indexing="ij")
    cx, cy = cx.reshape(-1), cy.reshape(-1)
    anchors = torch.cat([torch.stack([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], 1)
                         for s in (8, 12)])
    return target, anchors


def test_loss_is_finite_has_gradients_and_is_lowest_for_a_perfect_prediction():
    target, anchors = _loss_case()
    num_anchors, num_classes, k = len(anchors), 3, 2
    g = torch.Generator().manual_seed(0)
    random = dict(class_logits=torch.randn(1, num_anchors, num_classes, generator=g),
                  box_deltas=torch.randn(1, num_anchors, 4, generator=g),
                  coefficients=torch.rand(1, num_anchors, k, generator=g) * 2 - 1,
                  prototypes=torch.rand(1, k, 16, 16, generator=g),
                  semantic=torch.randn(1, num_classes - 1, 8, 8, generator=g))
    for v in random.values():
        v.requires_grad_(True)
    model = _tiny()  # the loss reads only the model's options (the paper's defaults)
    losses = model.loss({**random, "anchors": anchors}, model.targets([target]))
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_semantic"}
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    for name, v in random.items():
        assert v.grad is not None and v.grad.abs().sum() > 0, name

    # the perfect prediction: right classes, exact deltas, prototypes = the objects' masks
    matches = match_anchors(anchors, target["boxes"])
    pos = (matches >= 0).nonzero().squeeze(1)
    labels = torch.zeros(num_anchors, dtype=torch.int64)
    labels[pos] = target["labels"][matches[pos]]
    class_logits = torch.nn.functional.one_hot(labels, num_classes).float()[None] * 40 - 20
    box_deltas = torch.zeros(1, num_anchors, 4)
    box_deltas[0, pos] = encode_boxes(target["boxes"][matches[pos]], anchors[pos],
                                      BOX_CODER_WEIGHTS)
    coefficients = torch.zeros(1, num_anchors, k)
    coefficients[0, pos, matches[pos]] = 1.0
    prototypes = (downsample_masks(target["masks"], (16, 16)) * 60 - 30)[None]  # (1, 2, 16, 16)
    semantic = torch.full((1, 2, 8, 8), -30.0)
    down = downsample_masks(target["masks"], (8, 8))
    semantic[0, 0] = down[0] * 60 - 30
    semantic[0, 1] = down[1] * 60 - 30
    perfect = model.loss({"class_logits": class_logits, "box_deltas": box_deltas,
                          "coefficients": coefficients, "prototypes": prototypes,
                          "anchors": anchors, "semantic": semantic}, model.targets([target]))
    for name, value in perfect.items():
        assert value < 1e-6, name
        assert value < losses[name] / 1000, name


def test_loss_of_an_image_without_objects_is_zero_and_finite():
    _, anchors = _loss_case()
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros(0, 32, 32, dtype=torch.bool)}
    losses = _tiny().loss({"class_logits": torch.randn(1, len(anchors), 3),
                           "box_deltas": torch.randn(1, len(anchors), 4),
                           "coefficients": torch.rand(1, len(anchors), 2),
                           "prototypes": torch.rand(1, 2, 16, 16),
                           "anchors": anchors, "semantic": None}, [empty])
    assert all(torch.isfinite(v) and v == 0 for v in losses.values())


# -- the model -------------------------------------------------------------------------------------
def test_training_returns_scalar_losses_with_gradients():
    torch.manual_seed(0)
    model = _tiny().train()
    images, targets = _scene_batch(2)
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_semantic"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.protonet.out.weight.grad.abs().sum() > 0
    assert model.head.coef_conv.weight.grad.abs().sum() > 0


def test_eval_output_format_for_images_of_different_sizes():
    torch.manual_seed(0)
    model = _tiny(score_thresh=0.0, detections_per_img=7).eval()
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 80)]
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for o, image in zip(out, images, strict=True):
        n = len(o["boxes"])
        assert 0 < n <= 7
        assert (o["boxes"].shape == (n, 4) and o["scores"].shape == (n,)
                and o["labels"].shape == (n,))
        assert (o["labels"].dtype == torch.int64 and o["labels"].min() >= 1
                and o["labels"].max() <= 3)
        assert o["masks"].shape == (n, 1, *image.shape[-2:]) and o["masks"].dtype == torch.float32
        assert o["masks"].min() >= 0 and o["masks"].max() <= 1
        h, w = image.shape[-2:]
        assert ((o["boxes"][:, 0::2] <= w).all() and (o["boxes"][:, 1::2] <= h).all()
                and (o["boxes"] >= 0).all())
        # zero outside each box
        outside = ~box_crop_masks(o["boxes"], h, w)
        assert (o["masks"][:, 0][outside] == 0).all()
        assert (o["scores"][:-1] >= o["scores"][1:]).all()  # best first


def test_eval_on_the_same_images_alone_or_padded_in_a_batch_agrees():
    torch.manual_seed(0)
    model = _tiny(score_thresh=0.0, detections_per_img=5).eval()
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        alone = model([image])[0]
        batched = model([image, image.clone()])[1]
    torch.testing.assert_close(alone["boxes"], batched["boxes"])
    torch.testing.assert_close(alone["masks"], batched["masks"])


def test_forward_is_the_family_methods_on_the_head_outputs():
    # eval: postprocess(head_outputs); training: loss(head_outputs, targets(targets))
    torch.manual_seed(0)
    model = _tiny(score_thresh=0.0, detections_per_img=5).eval()
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 80)]
    with torch.no_grad():
        outputs = model.head_outputs(images)
        assert outputs["image_sizes"] == [(64, 64), (48, 80)]
        assert outputs["batch_size"] == (64, 80) and outputs["semantic"] is None
        detections = model.postprocess(outputs)
        for got, expected in zip(detections, model(images), strict=True):
            for key in ("boxes", "scores", "labels", "masks"):
                torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    model.train()
    scenes, targets = _scene_batch(2)
    targets[1]["masks"] = targets[1]["masks"][:, :48, :40]  # a smaller second image
    targets[1]["boxes"] = targets[1]["boxes"].clamp(max=39.0)
    keep = (targets[1]["boxes"][:, 2:] > targets[1]["boxes"][:, :2] + 1).all(dim=1)
    targets[1] = {k: v[keep] for k, v in targets[1].items()}
    scenes[1] = scenes[1][:, :48, :40]
    padded = model.targets(targets)
    assert padded[1]["masks"].shape == (len(targets[1]["boxes"]), 64, 64)
    assert (padded[1]["masks"][:, :48, :40] == targets[1]["masks"]).all()
    assert not padded[1]["masks"][:, 48:].any() and not padded[1]["masks"][:, :, 40:].any()
    torch.manual_seed(1)  # the mask loss may draw at most max_masks_per_image positives
    direct = model.loss(model.head_outputs(scenes), padded)
    torch.manual_seed(1)
    through_forward = model(scenes, targets)
    assert set(direct) == set(through_forward)
    for key, value in direct.items():
        torch.testing.assert_close(value, through_forward[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="outputs lacks"):
        model.loss({"class_logits": torch.zeros(1, 3, 4)}, padded)
    with pytest.raises(ValueError, match="unknown loss_weights"):
        _tiny(loss_weights={"mask_wieght": 1.0})


def test_bad_input_gives_clear_errors():
    model = _tiny().train()
    images, targets = _scene_batch(1)
    with pytest.raises(TypeError, match="list of"):
        model(torch.rand(1, 3, 64, 64), targets)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        model([torch.rand(1, 64, 64)], targets)
    with pytest.raises(ValueError, match="needs targets"):
        model(images)
    bad = [{**targets[0], "labels": targets[0]["labels"] + 5}]
    with pytest.raises(ValueError, match="labels"):
        model(images, bad)
    bad = [{**targets[0], "masks": targets[0]["masks"][:, :32]}]
    with pytest.raises(ValueError, match="masks"):
        model(images, bad)
    with pytest.raises(ValueError, match="lacks"):
        model(images, [{"boxes": targets[0]["boxes"]}])
    with pytest.raises(ValueError, match="num_classes"):
        yolact(num_classes=1)
    with pytest.raises(ValueError, match="prototype_stride"):
        _tiny(prototype_stride=3)


def test_builders_are_registered_with_the_documented_sizes():
    model = get_model("yolact")
    assert sum(p.numel() for p in model.parameters()) == 3_276_731
    assert "3,276,731" in yolact.__doc__
    paper = get_model("yolact_resnet50")
    assert sum(p.numel() for p in paper.parameters()) == 31_164_943
    # the paper's shapes for a 550x550 image: P3 69x69 and prototypes 138x138 with k = 32
    assert paper.protonet(torch.zeros(1, 256, 69, 69)).shape == (1, 32, 138, 138)
    assert (paper.head.coef_conv.out_channels == 3 * 32
            and paper.head.class_conv.out_channels == 3 * 81)


def test_overfits_two_scenes():
    torch.manual_seed(0)
    model = _tiny().train()
    images, targets = _scene_batch(2, size=64, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(150):
        losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    first, last = history[0], history[-1]
    assert sum(last.values()) < 0.2 * sum(first.values()), (first, last)
    assert last["loss_mask"] < 0.5 * first["loss_mask"], (first, last)
    # and the trained model finds the objects: its best masks cover them
    model.eval()
    with torch.no_grad():
        out = model(images)
    for o, t in zip(out, targets, strict=True):
        for mask, label in zip(t["masks"], t["labels"], strict=True):
            same = o["labels"] == label
            assert same.any()
            inter = ((o["masks"][same, 0] > 0.5) & mask).flatten(1).sum(1).float()
            union = ((o["masks"][same, 0] > 0.5) | mask).flatten(1).sum(1).float()
            assert (inter / union).max() > 0.5


# -- Fast NMS --------------------------------------------------------------------------------------
def test_fast_nms_suppresses_at_least_what_standard_nms_does():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        xy = torch.rand(80, 2, generator=g) * 50
        boxes = torch.cat([xy, xy + 5 + torch.rand(80, 2, generator=g) * 20], dim=1)
        scores = torch.rand(80, generator=g)
        labels = torch.randint(1, 4, (80,), generator=g)
        fast = fast_nms(boxes, scores, labels, 0.5)
        standard = batched_nms(boxes, scores, labels, 0.5)
        assert set(fast.tolist()) <= set(standard.tolist())
        assert (scores[fast][:-1] >= scores[fast][1:]).all()
    # the hand case where they differ: A suppresses B, B would have suppressed C, A and C are apart
    boxes = torch.tensor([[0.0, 0, 10, 10], [5.0, 0, 15, 10], [10.0, 0, 20, 10]])
    scores, labels = torch.tensor([0.9, 0.8, 0.7]), torch.ones(3, dtype=torch.int64)
    assert batched_nms(boxes, scores, labels, 0.3).tolist() == [0, 2]
    assert fast_nms(boxes, scores, labels, 0.3).tolist() == [0]
    # other classes never suppress
    assert fast_nms(boxes, scores, torch.tensor([1, 2, 3]), 0.3).tolist() == [0, 1, 2]
    assert fast_nms(boxes[:0], scores[:0], labels[:0], 0.3).tolist() == []


def test_model_with_fast_nms_runs():
    torch.manual_seed(0)
    model = _tiny(score_thresh=0.0, nms="fast").eval()
    with torch.no_grad():
        out = model([torch.rand(3, 64, 64)])[0]
    assert len(out["boxes"]) > 0 and out["masks"].shape[1:] == (1, 64, 64)
    with pytest.raises(ValueError, match="nms"):
        _tiny(nms="soft")
