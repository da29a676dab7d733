"""The parts of segedu's R-CNN equal torchvision's (matcher, sampler, transform, level mapping,
mask pasting, frozen batch norm); bad input gets a clear error; the slim zoo model trains."""

import pytest
import torch
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler as TvSampler
from torchvision.models.detection._utils import Matcher as TvMatcher
from torchvision.models.detection.roi_heads import paste_masks_in_image as tv_paste_masks_in_image
from torchvision.models.detection.transform import GeneralizedRCNNTransform as TvTransform
from torchvision.ops import FrozenBatchNorm2d as TvFrozenBatchNorm2d
from torchvision.ops.poolers import LevelMapper

import segedu.models.top_down.detection  # noqa: F401  (registers the models)
from segedu.data import SyntheticScenes
from segedu.models.registry import get_model
from segedu.models.top_down.detection.matcher import Matcher
from segedu.models.top_down.detection.multiscale_roi_align import map_levels
from segedu.models.top_down.detection.paste_masks import paste_masks_in_image
from segedu.models.top_down.detection.sampler import BalancedPositiveNegativeSampler
from segedu.models.top_down.detection.transform import GeneralizedRCNNTransform
from segedu.nn.frozen_batch_norm import FrozenBatchNorm2d, freeze_batch_norm
from segedu.nn.resnet import resnet18

SLIM_PARAMETERS = 1_941_751  # as recorded in maskrcnn_resnet_fpn's docstring


@pytest.mark.parametrize("allow_low_quality", [False, True])
def test_matcher_equals_torchvision(allow_low_quality):
    torch.manual_seed(0)
    # IoUs on a coarse grid: many ties, values exactly at the thresholds
    iou = torch.randint(0, 9, (3, 300)).float() / 10
    iou[2] = 0.0
    iou[2, [7, 50, 51]] = 0.25  # a ground truth whose best predictions tie at a low IoU
    ours = Matcher(high_threshold=0.7, low_threshold=0.3,
                   allow_low_quality_matches=allow_low_quality)(iou)
    theirs = TvMatcher(0.7, 0.3, allow_low_quality_matches=allow_low_quality)(iou)
    assert torch.equal(ours, theirs)
    assert {-2, -1} <= set(ours.tolist())
    if allow_low_quality:
        assert (ours[[7, 50, 51]] >= 0).all()
    with pytest.raises(ValueError, match="no ground-truth"):
        Matcher(high_threshold=0.5, low_threshold=0.5)(torch.zeros(0, 4))
    with pytest.raises(ValueError, match="low_threshold <= high_threshold"):
        Matcher(high_threshold=0.3, low_threshold=0.7)


def test_sampler_draws_as_torchvision():
    labels = [torch.randint(-1, 3, (1000,)), torch.randint(-1, 2, (50,)),
              torch.zeros(30, dtype=torch.int64)]
    ours = BalancedPositiveNegativeSampler(batch_size_per_image=256, positive_fraction=0.25)
    theirs = TvSampler(256, 0.25)
    torch.manual_seed(3)
    pos, neg = ours(labels)
    torch.manual_seed(3)
    tv_pos, tv_neg = theirs(labels)
    for a, b in zip(pos + neg, tv_pos + tv_neg, strict=True):
        assert torch.equal(a, b.bool())
    assert pos[0].sum() == 64 and neg[0].sum() == 192  # a quarter positives, at most
    assert all((labels[i][pos[i]] >= 1).all() and (labels[i][neg[i]] == 0).all() for i in range(3))
    torch.manual_seed(4)  # another seed, other samples
    assert not torch.equal(ours(labels)[0][0], pos[0])


@pytest.mark.parametrize("training", [False, True])
def test_transform_equals_torchvision(training):
    torch.manual_seed(0)
    images = [torch.rand(3, 150, 210), torch.rand(3, 97, 61)]
    masks = [torch.rand(2, 150, 210) > 0.5, torch.rand(1, 97, 61) > 0.5]
    targets = [{"boxes": torch.tensor([[1.0, 2.0, 50.5, 60.0], [10.0, 10.0, 200.0, 140.0]]),
                "masks": masks[0]},
               {"boxes": torch.tensor([[3.0, 4.0, 40.0, 90.0]]), "masks": masks[1]}]
    kwargs = {"min_size": (96, 128, 160) if training else 160, "max_size": 200}
    ours = GeneralizedRCNNTransform(**kwargs).train(training)
    theirs = TvTransform(kwargs["min_size"], 200, [0.485, 0.456, 0.406],
                         [0.229, 0.224, 0.225]).train(training)
    torch.manual_seed(5)  # the multi-scale draw in training
    batch, new_targets = ours(images, targets)
    torch.manual_seed(5)
    tv_batch, tv_targets = theirs(images, targets)
    assert batch.image_sizes == tv_batch.image_sizes
    assert batch.tensors.shape[-1] % 32 == 0 and batch.tensors.shape[-2] % 32 == 0
    torch.testing.assert_close(batch.tensors, tv_batch.tensors, rtol=0, atol=0)
    for t, tv in zip(new_targets, tv_targets, strict=True):
        torch.testing.assert_close(t["boxes"], tv["boxes"], rtol=0, atol=0)
        assert torch.equal(t["masks"], tv["masks"])
    assert targets[0]["boxes"][0, 2] == 50.5  # the caller's targets are left alone
    # postprocess: boxes back to the input sizes, masks pasted
    results = [{"boxes": torch.tensor([[5.0, 6.0, 70.0, 80.0]]), "masks": torch.rand(1, 1, 28, 28)},
               {"boxes": torch.tensor([[0.5, 1.0, 20.0, 30.0]]), "masks": torch.rand(1, 1, 28, 28)}]
    expected = theirs.eval().postprocess([dict(r) for r in results], batch.image_sizes,
                                         [(150, 210), (97, 61)])
    got = ours.postprocess([dict(r) for r in results], batch.image_sizes, [(150, 210), (97, 61)])
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g["boxes"], e["boxes"], rtol=0, atol=0)
        torch.testing.assert_close(g["masks"], e["masks"], rtol=0, atol=0)


def test_paste_masks_equals_torchvision_including_boxes_over_the_border():
    torch.manual_seed(0)
    masks = torch.rand(6, 1, 28, 28)
    boxes = torch.tensor([[10.0, 20.0, 60.0, 45.0], [-15.0, -5.0, 30.0, 30.0],
                          [50.0, 40.0, 120.0, 99.0],
                          [3.3, 4.7, 5.1, 6.2], [70.0, 70.0, 70.5, 70.5], [0.0, 0.0, 80.0, 64.0]])
    expected = tv_paste_masks_in_image(masks, boxes, (64, 80))
    got = paste_masks_in_image(masks, boxes, (64, 80))
    assert got.shape == (6, 1, 64, 80)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert paste_masks_in_image(masks[:0], boxes[:0], (64, 80)).shape == (0, 1, 64, 80)


def test_level_mapping_equals_torchvision():
    torch.manual_seed(0)
    corners = torch.rand(200, 2) * 500
    boxes = [torch.cat([corners, corners + torch.rand(200, 2) * 600 + 1], dim=1)]
    # exactly P4, P3
    boxes.append(torch.tensor([[0.0, 0.0, 224.0, 224.0], [0.0, 0.0, 112.0, 112.0]]))
    got = map_levels(boxes, k_min=2, k_max=5)
    assert torch.equal(got, LevelMapper(2, 5)(boxes))
    assert got[-2:].tolist() == [2, 1] and set(got.tolist()) == {0, 1, 2, 3}


def test_frozen_batch_norm_equals_torchvision_and_freezes():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(5)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    theirs = TvFrozenBatchNorm2d(5, eps=1e-3)
    ours = FrozenBatchNorm2d(5, eps=1e-3)
    theirs.load_state_dict(bn.state_dict())
    # a BatchNorm2d checkpoint loads (num_batches_tracked dropped)
    ours.load_state_dict(bn.state_dict())
    x = torch.randn(2, 5, 4, 3)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert list(ours.parameters()) == []
    net = freeze_batch_norm(resnet18(norm_layer=torch.nn.BatchNorm2d).eval())
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in net.modules()) == 20
    assert isinstance(resnet18(norm_layer=FrozenBatchNorm2d).layer1[0].bn1, FrozenBatchNorm2d)


@pytest.fixture(scope="module")
def slim():
    torch.manual_seed(0)
    return get_model("maskrcnn_resnet_fpn", num_classes=4)


def _scene_batch(n=2):
    scenes = SyntheticScenes(size=128, length=n, seed=1)
    images, targets = [], []
    for image, target in (scenes[i] for i in range(n)):
        images.append(image)
        # scenes label the things 3..5 (circle, rectangle, triangle): classes 1..3 for the model
        targets.append({"boxes": target["boxes"].as_subclass(torch.Tensor),
                        "labels": target["labels"] - 2,
                        "masks": target["masks"].as_subclass(torch.Tensor)})
    return images, targets


def test_slim_model_counts_trains_and_predicts(slim):
    assert sum(p.numel() for p in slim.parameters()) == SLIM_PARAMETERS
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in slim.modules())  # trained from scratch
    images, targets = _scene_batch()
    slim.train()
    losses = slim(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                           "loss_rpn_box_reg"}
    optimizer = torch.optim.SGD(slim.parameters(), lr=0.01)
    sum(losses.values()).backward()
    optimizer.step()
    assert all(torch.isfinite(v) for v in losses.values())
    slim.eval()
    with torch.no_grad():
        outputs = slim(images)
    for image, out in zip(images, outputs, strict=True):
        n = len(out["boxes"])
        assert (out["boxes"].shape == (n, 4) and out["labels"].shape == (n,)
                and out["scores"].shape == (n,))
        assert (out["labels"].dtype == torch.int64
                and out["masks"].shape == (n, 1, *image.shape[-2:]))
        assert ((out["labels"] >= 1) & (out["labels"] <= 3)).all()


def test_bad_input_gets_clear_errors(slim):
    images, targets = _scene_batch(1)
    slim.train()
    with pytest.raises(TypeError,
                       match=r"list of \(3, H, W\) tensors, got one tensor of shape \(1, 3, 128, "
                             r"128\)"):
        slim(torch.stack(images), targets)
    with pytest.raises(ValueError,
                       match=r"images\[0\] must have shape \(3, H, W\), got \(1, 128, 128\)"):
        slim([images[0][:1]], targets)
    with pytest.raises(TypeError, match="float tensor"):
        slim([(images[0] * 255).to(torch.uint8)], targets)
    with pytest.raises(ValueError, match="targets are needed in training mode"):
        slim(images)
    with pytest.raises(ValueError, match=r"'boxes'\] must be a \(G, 4\) tensor, got \(4, 3\)"):
        slim(images, [{**targets[0], "boxes": torch.rand(4, 3)}])
    bad = targets[0]["boxes"].clone()
    bad[1, 2] = bad[1, 0]  # x2 == x1
    with pytest.raises(ValueError, match=r"boxes'\]\[1\] = .* is degenerate"):
        slim(images, [{**targets[0], "boxes": bad}])
    with pytest.raises(ValueError, match=r"lacks \['masks'\]"):
        slim(images, [{"boxes": targets[0]["boxes"], "labels": targets[0]["labels"]}])
    with pytest.raises(ValueError, match="int64"):
        slim(images, [{**targets[0], "labels": targets[0]["labels"].int()}])


def test_forward_is_the_family_methods_in_torchvisions_order(slim):
    # training: transform(images, targets(targets)), backbone, loss; evaluation: transform,
    # backbone, RPN, RoI heads, postprocess. Same seed, same sampling: equal to the last bit.
    images, targets = _scene_batch()
    slim.train()
    torch.manual_seed(3)
    expected = slim(images, targets)
    torch.manual_seed(3)
    checked = slim.targets(targets)
    assert checked is not targets and all(c is not t for c, t in zip(checked, targets, strict=True))
    assert all(c["boxes"] is t["boxes"] for c, t in zip(checked, targets, strict=True))
    batch, resized = slim.transform(images, checked)
    got = slim.loss({"images": batch, "features": slim.backbone(batch.tensors)}, resized)
    assert set(got) == set(expected)
    for key, value in got.items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    slim.eval()
    with torch.no_grad():
        expected = slim(images)
        batch, _ = slim.transform(images)
        features = slim.backbone(batch.tensors)
        detections, _ = slim.roi_heads(features, slim.rpn(batch, features)[0], batch.image_sizes)
        got = slim.postprocess({"detections": detections, "image_sizes": batch.image_sizes,
                                "original_sizes": [tuple(i.shape[-2:]) for i in images]})
    for g, e in zip(got, expected, strict=True):
        assert g["masks"].shape[-2:] == (128, 128)
        for key in ("boxes", "scores", "labels", "masks"):
            torch.testing.assert_close(g[key], e[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"targets\[0\]\['masks'\] must be a \(4, H, W\)"):
        slim.targets([{**targets[0], "masks": targets[0]["masks"][:1]}])
    with pytest.raises(TypeError, match="ImageList"):
        slim.loss({"images": batch.tensors, "features": features}, resized)
