"""Faster R-CNN and Mask R-CNN (ResNet-50 FPN) equal torchvision's models given torchvision's
weights: the same detections in evaluation, the same losses in training (same seed), and the
checkpoints of models trained with frozen batch norm (torchvision's COCO ones) load into frozen
batch norm.

Small images (min_size 160, max_size 224) and fewer proposals keep the run short; the code paths
are those of the full-size models.
"""

import pytest
import torch
import torchvision
from torchvision.models.detection import faster_rcnn as tv_faster_rcnn
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d as TvFrozenBatchNorm2d
from torchvision.ops import MultiScaleRoIAlign as TvMultiScaleRoIAlign
from torchvision.ops.poolers import _convert_to_roi_format, _setup_scales

import segedu.models.top_down.detection  # noqa: F401  (registers the models)
from segedu.models.registry import get_model, official_url
from segedu.nn.frozen_batch_norm import FrozenBatchNorm2d

SMALL = {"min_size": 160, "max_size": 224, "rpn_pre_nms_top_n_test": 300,
         "rpn_post_nms_top_n_test": 150}
# torchvision's documented parameter counts (frozen batch norm, as with the COCO weights), and with
# trainable batch norm (random initialisation: ResNet-50's 53,120 batch-norm scales and shifts
# count) fewer proposals and samples in the training tests (the same code runs; it only costs less)
TRAIN = {**SMALL, "rpn_pre_nms_top_n_train": 300, "rpn_post_nms_top_n_train": 150,
         "box_batch_size_per_image": 64}
PARAMETERS = {"fasterrcnn_resnet50_fpn": (41_755_286, 41_808_406),
              "maskrcnn_resnet50_fpn": (44_401_393, 44_454_513)}


def _images():
    """Two non-square images of different sizes: both are resized (by different factors)
    and padded."""
    g = torch.Generator().manual_seed(1)
    return [torch.rand(3, 150, 210, generator=g), torch.rand(3, 190, 160, generator=g)]


def _meaningful(model):
    """Random weights give ~1/91 for every class and no detection above the score threshold 0.05:
    randomise the batch-norm statistics (the features then grow large) and scale the predictor so
    that the class probabilities spread over (0.05, 1) without saturating at 1 (where they would
    tie): tens of detections of about ten classes per image."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, TvFrozenBatchNorm2d)):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        model.roi_heads.box_predictor.cls_score.weight.mul_(0.3)
        model.roi_heads.box_predictor.bbox_pred.weight.mul_(0.3)
    return model


def _torchvision_frozen(builder_class, **kwargs):
    """torchvision's model exactly as its builder makes it for the COCO weights: frozen batch norm
    with eps 0 (``overwrite_eps``), stem and layer1 frozen (trainable_backbone_layers=3)."""
    body = torchvision.models.resnet50(norm_layer=TvFrozenBatchNorm2d)
    model = builder_class(_resnet_fpn_extractor(body, 3), num_classes=91, **kwargs)
    overwrite_eps(model, 0.0)
    return model


def _assert_same_detections(ours, theirs, with_masks):
    keys = ["boxes", "labels", "scores"] + (["masks"] if with_masks else [])
    for o, t in zip(ours, theirs, strict=True):
        assert sorted(o) == sorted(keys)
        assert len(t["boxes"]) >= 10, "the weights give too few detections to compare"
        # the same operations in the same order on the same inputs: the results are bitwise equal,
        # so near ties in the scores (NMS, top-k) resolve identically and no tolerance is needed
        for k in keys:
            assert o[k].dtype == t[k].dtype and o[k].shape == t[k].shape, k
            torch.testing.assert_close(o[k], t[k], rtol=0, atol=0)


def test_maskrcnn_eval_equals_torchvision(tmp_path):
    torch.manual_seed(0)
    theirs = _meaningful(torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, **SMALL)).eval()
    path = tmp_path / "maskrcnn.pth"
    torch.save(theirs.state_dict(), path)
    ours = get_model("maskrcnn_resnet50_fpn", weights=path, **SMALL).eval()
    # trainable BN checkpoint
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in ours.modules())
    images = _images()
    with torch.no_grad():
        expected, got = theirs(images), ours(images)
    _assert_same_detections(got, expected, with_masks=True)
    for image, result in zip(images, got, strict=True):  # masks at the input size, probabilities
        assert (result["masks"].shape[-2:] == image.shape[-2:]
                and result["masks"].dtype == torch.float32)
        assert (0 <= result["masks"].min() and result["masks"].max() <= 1
                and result["labels"].dtype == torch.int64)


def test_fasterrcnn_from_a_frozen_batch_norm_checkpoint_equals_torchvision(tmp_path):
    torch.manual_seed(0)
    theirs = _meaningful(_torchvision_frozen(tv_faster_rcnn.FasterRCNN, **SMALL)).eval()
    state = theirs.state_dict()
    assert not any(k.endswith("num_batches_tracked") for k in state)  # as the COCO checkpoint
    path = tmp_path / "fasterrcnn.pth"
    torch.save(state, path)
    ours = get_model("fasterrcnn_resnet50_fpn", weights=path, **SMALL).eval()
    # loaded as torchvision builds it for such weights
    frozen = [m for m in ours.backbone.body.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert len(frozen) == 53 and all(m.eps == 0.0 for m in frozen)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in theirs.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in ours.parameters()) == PARAMETERS["fasterrcnn_resnet50_fpn"][0]
    images = _images()
    with torch.no_grad():
        expected, got = theirs(images), ours(images)
    _assert_same_detections(got, expected, with_masks=False)


def _targets(images, with_masks):
    """Two and three objects (boxes from their masks), labels among the 91 COCO classes."""
    targets = []
    for image, boxes, labels in zip(images, ([[10, 20, 90, 100], [100, 40, 200, 140]],
                                             [[5, 5, 60, 80], [70, 90, 150, 180],
                                              [20, 100, 60, 150]]),
                                    ([1, 18], [3, 1, 62]), strict=True):
        boxes = torch.tensor(boxes, dtype=torch.float32)
        target = {"boxes": boxes, "labels": torch.tensor(labels)}
        if with_masks:
            masks = torch.zeros(len(boxes), *image.shape[-2:], dtype=torch.uint8)
            for mask, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist(), strict=True):
                # not the whole box: the mask targets are not all ones
                mask[y1 + 5:y2 - 5, x1:x2] = 1
            target["masks"] = masks
        targets.append(target)
    return targets


@pytest.mark.parametrize("name", ["maskrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn"])
def test_training_losses_equal_torchvision_and_gradients_flow(name, tmp_path):
    with_masks = name.startswith("mask")
    torch.manual_seed(0)
    if with_masks:  # trainable batch norm: batch statistics in training mode, in both models
        theirs = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None,
                                                                    weights_backbone=None, **TRAIN)
    else:  # frozen batch norm, as for the COCO weights
        theirs = _torchvision_frozen(tv_faster_rcnn.FasterRCNN, **TRAIN)
    theirs = _meaningful(theirs).train()
    torch.save(theirs.state_dict(), tmp_path / "w.pth")
    ours = get_model(name, weights=tmp_path / "w.pth", **TRAIN).train()
    images = _images()
    targets = _targets(images, with_masks)
    # the same seed: the same multi-scale draw, the same sampled anchors and proposals (another
    # seed samples others: test_sampler_draws_as_torchvision in test_rcnn_parts.py)
    torch.manual_seed(7)
    expected = theirs(images, targets)
    torch.manual_seed(7)
    got = ours(images, targets)
    keys = {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"} | (
        {"loss_mask"} if with_masks else set())
    assert set(got) == set(expected) == keys
    for k in keys:
        assert got[k] > 0, k
        # identical sampling and arithmetic: bitwise equal
        torch.testing.assert_close(got[k], expected[k], rtol=0, atol=0, msg=k)
    # gradients reach every stage
    sum(got.values()).backward()
    parts = ["backbone.body.layer4.0.conv1.weight", "backbone.fpn.inner_blocks.0.0.weight",
             "rpn.head.cls_logits.weight",
             "rpn.head.bbox_pred.weight", "roi_heads.box_head.fc6.weight",
             "roi_heads.box_predictor.bbox_pred.weight"]
    if with_masks:
        parts += ["roi_heads.mask_head.0.0.weight",
                  "roi_heads.mask_predictor.mask_fcn_logits.weight"]
    parameters = dict(ours.named_parameters())
    for part in parts:
        grad = parameters[part].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, part


class _TvMultiScaleRoIPool(TvMultiScaleRoIAlign):
    """A reference for ``box_roi_pool="pool"``: torchvision's level mapping with
    torchvision's RoIPool."""

    def forward(self, x, boxes, image_shapes):
        maps = [x[name] for name in self.featmap_names]
        scales, mapper = _setup_scales(maps, image_shapes, self.canonical_scale,
                                       self.canonical_level)
        rois, levels = _convert_to_roi_format(boxes), mapper(boxes)
        result = maps[0].new_zeros((len(rois), maps[0].shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(maps, scales, strict=True)):
            idx = torch.where(levels == level)[0]
            result[idx] = torchvision.ops.roi_pool(feature, rois[idx], self.output_size, scale)
        return result


def test_roi_pool_option_matches_a_torchvision_roi_pool_model_and_differs_from_align(tmp_path):
    torch.manual_seed(0)
    pool = _TvMultiScaleRoIPool(featmap_names=["0", "1", "2", "3"], output_size=7, sampling_ratio=2)
    theirs = _meaningful(tv_faster_rcnn.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                                box_roi_pool=pool, **SMALL)).eval()
    torch.save(theirs.state_dict(), tmp_path / "w.pth")
    ours = get_model("fasterrcnn_resnet50_fpn", weights=tmp_path / "w.pth", box_roi_pool="pool",
                     **SMALL).eval()
    images = _images()[:1]
    with torch.no_grad():
        expected, got = theirs(images), ours(images)
        aligned = get_model("fasterrcnn_resnet50_fpn", weights=tmp_path / "w.pth",
                            **SMALL).eval()(images)
    _assert_same_detections(got, expected, with_masks=False)
    # quantised bins pool other features: other scores and boxes
    n = min(len(aligned[0]["boxes"]), len(got[0]["boxes"]))
    assert not torch.allclose(aligned[0]["scores"][:n], got[0]["scores"][:n])
    with pytest.raises(ValueError, match="box_roi_pool"):
        get_model("fasterrcnn_resnet50_fpn", box_roi_pool="max")


@pytest.mark.parametrize("name,url", [
    ("fasterrcnn_resnet50_fpn",
     "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"),
    ("maskrcnn_resnet50_fpn",
     "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"),
])
def test_parameter_counts_keys_and_official_url(name, url):
    ours = get_model(name)
    theirs = getattr(torchvision.models.detection, name)(weights=None, weights_backbone=None)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert sum(p.numel() for p in ours.parameters()) == PARAMETERS[name][1]
    assert official_url(name) == url  # registered; never downloaded in the tests
