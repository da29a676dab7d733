"""Panoptic FPN: the semantic branch, the merge heuristics (against a port of detectron2's
``combine_semantic_and_instance_outputs``, the paper authors' code) and the whole model."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import segedu.models.universal.panoptic_fpn  # noqa: F401  (registers panoptic_fpn)
from segedu.data import SyntheticScenes
from segedu.models import get_model
from segedu.models.universal.panoptic_fpn import PanopticFPN, SemanticFPNHead
from segedu.zoo.instances import detection_target

# the merge is a method of Panoptic FPN that reads only its arguments: a model built on the meta
# device (no weights) serves it
with torch.device("meta"):
    MODEL = get_model("panoptic_fpn")


# ---------------------------------------------------------------------------------------------
# reference: detectron2's combine_semantic_and_instance_outputs, ported line by line (detectron2
# cannot be installed from PyPI). It returns a segment-id map and a segments list.
def detectron2_combine(scores, labels, masks, semantic, overlap_threshold, stuff_area_thresh,
                       instances_score_thresh):
    panoptic_seg = torch.zeros_like(semantic, dtype=torch.int32)
    sorted_inds = torch.argsort(-scores)
    current_segment_id = 0
    segments_info = []
    for inst_id in sorted_inds:
        score = scores[inst_id].item()
        if score < instances_score_thresh:
            break
        mask = masks[inst_id]
        mask_area = mask.sum().item()
        if mask_area == 0:
            continue
        intersect = (mask > 0) & (panoptic_seg > 0)
        intersect_area = intersect.sum().item()
        if intersect_area * 1.0 / mask_area > overlap_threshold:
            continue
        if intersect_area > 0:
            mask = mask & (panoptic_seg == 0)
        current_segment_id += 1
        panoptic_seg[mask] = current_segment_id
        segments_info.append({"id": current_segment_id, "isthing": True,
                              "category_id": labels[inst_id].item()})
    for semantic_label in torch.unique(semantic).tolist():
        if semantic_label == 0:
            continue
        mask = (semantic == semantic_label) & (panoptic_seg == 0)
        if mask.sum().item() < stuff_area_thresh:
            continue
        current_segment_id += 1
        panoptic_seg[mask] = current_segment_id
        segments_info.append({"id": current_segment_id, "isthing": False,
                              "category_id": semantic_label})
    return panoptic_seg, segments_info


THINGS = (-1, 10, 11, 12)  # detection label -> category
STUFF = (-1, 20, 21, 22)  # semantic label -> category


def _to_pairs(segment_map, segments, void=-1):
    """detectron2's output -> (H, W, 2) (category, instance), things numbered in placement order."""
    out = torch.zeros((*segment_map.shape, 2), dtype=torch.int64)
    out[..., 0] = void
    thing_number = 0
    for seg in segments:
        where = segment_map == seg["id"]
        if seg["isthing"]:
            thing_number += 1
            out[where] = torch.tensor([THINGS[seg["category_id"]], thing_number])
        else:
            out[where] = torch.tensor([STUFF[seg["category_id"]], 0])
    return out


def _random_case(generator, n, size=40):
    """Random blobs: boxes filled with a random density of pixels, so overlaps vary widely."""
    masks = torch.zeros((n, size, size), dtype=torch.bool)
    for i in range(n):
        x0, y0 = torch.randint(0, size - 4, (2,), generator=generator).tolist()
        w, h = torch.randint(3, size // 2, (2,), generator=generator).tolist()
        noise = torch.rand((min(h, size - y0), min(w, size - x0)), generator=generator)
        masks[i, y0:y0 + h, x0:x0 + w] = noise < 0.9
    scores = torch.randperm(1000, generator=generator)[:n].float() / 1000  # distinct: no ties
    labels = torch.randint(1, 4, (n,), generator=generator)
    # a semantic map of 4 labels in coarse blocks, so stuff areas straddle the limit
    semantic = torch.randint(0, 4, (size // 8, size // 8), generator=generator)
    semantic = semantic.repeat_interleave(8, 0).repeat_interleave(8, 1)
    return semantic, masks, scores, labels


@pytest.mark.parametrize("seed", range(25))
def test_combine_equals_detectron2(seed):
    generator = torch.Generator().manual_seed(seed)
    n = int(torch.randint(0, 12, (1,), generator=generator))
    semantic, masks, scores, labels = _random_case(generator, n=n)
    for overlap, area, score in [(0.5, 64, 0.5), (0.2, 100, 0.3), (0.8, 1, 0.0)]:
        ours = MODEL.combine_panoptic(semantic, masks, scores, labels, thing_categories=THINGS,
                                      stuff_categories=STUFF, score_thresh=score,
                                      overlap_thresh=overlap, stuff_area_thresh=area)
        expected = _to_pairs(*detectron2_combine(scores, labels, masks, semantic, overlap, area,
                                                 score))
        assert torch.equal(ours, expected)


def test_combine_rules_by_hand():
    semantic = torch.zeros((10, 10), dtype=torch.int64)
    semantic[:, 5:] = 1  # stuff label 1 on the right half (50 px), "other" on the left
    a = torch.zeros((10, 10), dtype=torch.bool)
    a[0:4, 0:4] = True  # 16 px, best score
    b = torch.zeros_like(a)
    b[0:4, 2:6] = True  # 16 px, 8 of them on a: overlap exactly 0.5 -> kept (needs > 0.5 to drop)
    c = torch.zeros_like(a)
    c[0:4, 0:3] = True  # 12 px, all on a: dropped as a duplicate
    d = torch.zeros_like(a)
    d[6:8, 0:2] = True  # below the score threshold: never placed
    masks = torch.stack([a, b, c, d])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.4])
    labels = torch.tensor([1, 2, 3, 1])
    out = MODEL.combine_panoptic(semantic, masks, scores, labels, thing_categories=THINGS,
                                 stuff_categories=STUFF,
                                 stuff_area_thresh=40)
    assert torch.equal(out[a], torch.tensor([[10, 1]]).expand(16, 2))
    # b keeps its free pixels only
    assert torch.equal(out[b & ~a], torch.tensor([[11, 2]]).expand(8, 2))
    assert not (out[..., 1] == 3).any()  # c was dropped
    free_stuff = (semantic == 1) & ~b
    assert torch.equal(out[free_stuff], torch.tensor([[20, 0]]).expand(int(free_stuff.sum()), 2))
    assert (out[d][:, 0] == -1).all()  # on "other" and claimed by no thing: void
    # the same stuff region under a larger limit is void
    out = MODEL.combine_panoptic(semantic, masks, scores, labels, thing_categories=THINGS,
                                 stuff_categories=STUFF,
                                 stuff_area_thresh=49)
    assert (out[free_stuff][:, 0] == -1).all()


def test_combine_ties_keep_input_order_and_empty_input():
    semantic = torch.ones((6, 6), dtype=torch.int64)
    masks = torch.zeros((2, 6, 6), dtype=torch.bool)
    masks[:, :3, :3] = True  # two identical masks, equal scores: the first one given wins
    out = MODEL.combine_panoptic(semantic, masks, torch.tensor([0.9, 0.9]), torch.tensor([1, 2]),
                                 thing_categories=THINGS, stuff_categories=STUFF,
                                 stuff_area_thresh=1)
    assert (out[:3, :3, 0] == 10).all() and (out[:3, :3, 1] == 1).all()
    out = MODEL.combine_panoptic(semantic, masks[:0], torch.zeros(0),
                                 torch.zeros(0, dtype=torch.int64), thing_categories=THINGS,
                                 stuff_categories=STUFF, stuff_area_thresh=1)
    assert (out[..., 0] == 20).all() and (out[..., 1] == 0).all()


def test_combine_rejects_bad_input():
    semantic = torch.zeros((5, 5), dtype=torch.int64)
    with pytest.raises(ValueError, match="masks must be"):
        MODEL.combine_panoptic(semantic, torch.zeros((1, 4, 5), dtype=torch.bool), torch.ones(1),
                               torch.ones(1).long(),
                               thing_categories=THINGS, stuff_categories=STUFF)
    with pytest.raises(TypeError, match="bool"):
        MODEL.combine_panoptic(semantic, torch.zeros((1, 5, 5)), torch.ones(1),
                               torch.ones(1).long(), thing_categories=THINGS,
                               stuff_categories=STUFF)
    with pytest.raises(ValueError, match="semantic must be"):
        MODEL.combine_panoptic(semantic[None], torch.zeros((1, 5, 5), dtype=torch.bool),
                               torch.ones(1), torch.ones(1).long(), thing_categories=THINGS,
                               stuff_categories=STUFF)


# ---------------------------------------------------------------------------------------------
# the semantic branch
def test_semantic_head_is_the_papers_towers():
    torch.manual_seed(0)
    strides = {"0": 4, "1": 8, "2": 16, "3": 32}
    head = SemanticFPNHead(in_channels=16, num_classes=5, feature_strides=strides, conv_dims=8,
                           num_groups=4).eval()
    # log2(s / 4) conv stages per level, at least one: 1, 1, 2, 3
    convs = {name: sum(isinstance(m, torch.nn.Conv2d) for m in head.towers[name])
             for name in strides}
    assert convs == {"0": 1, "1": 1, "2": 2, "3": 3}
    features = {name: torch.randn(2, 16, 64 // s, 96 // s) for name, s in strides.items()}
    logits = head(features)
    assert logits.shape == (2, 5, 16, 24)
    assert head.upsample(logits).shape == (2, 5, 64, 96)

    # the same computation written out with functional ops: conv -> GN -> ReLU (-> 2x up) per stage,
    # sum, 1x1
    def tower(x, modules):
        convs = [m for m in modules if isinstance(m, torch.nn.Conv2d)]
        norms = [m for m in modules if isinstance(m, torch.nn.GroupNorm)]
        upsample = any(isinstance(m, torch.nn.Upsample) for m in modules)
        for conv, norm in zip(convs, norms, strict=True):
            x = F.relu(F.group_norm(F.conv2d(x, conv.weight, padding=1), 4, norm.weight, norm.bias))
            if upsample:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return x

    merged = sum(tower(features[name], list(head.towers[name])) for name in strides)
    expected = F.conv2d(merged, head.predictor.weight, head.predictor.bias)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="missing"):
        head({"0": features["0"]})


# ---------------------------------------------------------------------------------------------
# the model
def scene_target(target: dict) -> dict[str, torch.Tensor]:
    """Panoptic FPN's target written out from a scene's own annotation: the zoo's detection
    target of the things, plus ``semantic`` 0 ("other") on things and 1..3 on sky, grass, water
    (scene classes 0..2)."""
    semantic = target["semantic"].as_subclass(torch.Tensor)
    return {**detection_target(target), "semantic": torch.where(semantic >= 3, 0, semantic + 1)}


def _scenes(n, size=128):
    scenes = SyntheticScenes(size=size, length=n, seed=3)
    images, targets = [], []
    for i in range(n):
        image, target = scenes[i]
        images.append(image.as_subclass(torch.Tensor))
        targets.append(scene_target(target))
    return images, targets


def test_training_loss_is_the_weighted_sum():
    torch.manual_seed(0)
    model = get_model("panoptic_fpn").train()
    images, targets = _scenes(2)
    torch.manual_seed(1)
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                           "loss_rpn_box_reg",
                           "loss_semantic"}
    # the semantic loss is 0.5 x the cross-entropy of the branch's up-sampled logits
    features = model.backbone(model.transform(images)[0].tensors)
    logits = model.semantic_head.upsample(model.semantic_head(features))
    expected = 0.5 * F.cross_entropy(logits, torch.stack([t["semantic"] for t in targets]))
    torch.testing.assert_close(losses["loss_semantic"], expected)
    # the instance losses are Mask R-CNN's: the same weights and seed give the same values
    mask_rcnn = get_model("maskrcnn_resnet_fpn").train()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("semantic_head.")}
    mask_rcnn.load_state_dict(state)  # strict: the instance branch's names are Mask R-CNN's
    torch.manual_seed(1)
    reference = mask_rcnn(images, targets)
    for key, value in reference.items():
        torch.testing.assert_close(losses[key], value)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = get_model("panoptic_fpn").train()
    images, targets = _scenes(2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for _ in range(15):
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = float(loss.detach()) if first is None else first
    assert float(loss.detach()) < 0.6 * first


def test_inference_outputs_and_sizes():
    torch.manual_seed(0)
    model = get_model("panoptic_fpn", min_size=96, max_size=160).eval()
    images = [torch.rand(3, 96, 160), torch.rand(3, 70, 50)]  # the second one is resized and padded
    with torch.no_grad():
        outputs = model(images)
    for image, out in zip(images, outputs, strict=True):
        h, w = image.shape[-2:]
        assert out["sem_seg"].shape == (4, h, w)
        assert out["panoptic"].shape == (h, w, 2) and out["panoptic"].dtype == torch.int64
        categories = set(out["panoptic"][..., 0].unique().tolist())
        assert categories <= {-1, 0, 1, 2, 3, 4, 5}
        # the panoptic map is the merge of the returned detections and semantic logits
        expected = MODEL.combine_panoptic(out["sem_seg"].argmax(0), out["masks"][:, 0] > 0.5,
                                          out["scores"],
                                          out["labels"], thing_categories=(-1, 3, 4, 5),
                                          stuff_categories=(-1, 0, 1, 2),
                                          stuff_area_thresh=64)
        assert torch.equal(out["panoptic"], expected)


def test_mask_rcnn_checkpoint_initialises_the_instance_branch():
    mask_rcnn = get_model("maskrcnn_resnet_fpn")
    model = get_model("panoptic_fpn")
    missing, unexpected = model.load_state_dict(copy.deepcopy(mask_rcnn.state_dict()), strict=False)
    assert not unexpected and all(k.startswith("semantic_head.") for k in missing) and missing


def test_bad_targets():
    model = get_model("panoptic_fpn").train()
    images, targets = _scenes(1)
    del targets[0]["semantic"]
    with pytest.raises(ValueError, match="semantic"):
        model(images, targets)
    with pytest.raises(ValueError, match="thing_categories"):
        PanopticFPN(backbone=model.backbone, num_classes=3, num_semantic_classes=4,
                    thing_categories=(0, 1),
                    stuff_categories=(0, 1, 2, 3))


# ---------------------------------------------------------------------------------------------
# the universal family's methods (segedu.models.universal.base)
def test_targets_from_the_panoptic_map_are_the_scene_annotation():
    model = get_model("panoptic_fpn")
    scenes = SyntheticScenes(size=48, length=4, seed=5)
    for i in range(len(scenes)):
        _, target = scenes[i]
        expected = scene_target(target)
        got = model.targets(target["panoptic"].as_subclass(torch.Tensor).permute(1, 2, 0))
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key].dtype == expected[key].dtype, key
            assert torch.equal(got[key], expected[key]), key


def test_targets_of_void_and_bad_maps():
    model = get_model("panoptic_fpn")
    # void (-1 and 9), sky, a circle (instance 1), an unlabelled thing pixel (instance 0)
    panoptic = torch.tensor([[[-1, 0], [0, 0], [3, 1]], [[9, 0], [3, 1], [4, 0]]])
    got = model.targets(panoptic)
    assert got["semantic"].tolist() == [[255, 1, 0], [255, 0, 0]]
    assert got["labels"].tolist() == [1] and got["boxes"].tolist() == [[1.0, 0.0, 3.0, 2.0]]
    assert got["masks"].tolist() == [[[0, 0, 1], [0, 1, 0]]]
    with pytest.raises(ValueError, match=r"\(H, W, 2\) panoptic map"):
        model.targets(panoptic[..., 0])
    with pytest.raises(TypeError, match="integer panoptic map"):
        model.targets(panoptic.float())


def test_loss_of_network_outputs_is_the_training_forward():
    torch.manual_seed(0)
    model = get_model("panoptic_fpn").train()
    images, targets = _scenes(2)
    torch.manual_seed(1)
    losses = model(images, targets)
    torch.manual_seed(1)
    again = model.loss(model.network_outputs(images), targets)
    assert losses.keys() == again.keys()
    for key in losses:
        torch.testing.assert_close(again[key], losses[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="one target dict per image"):
        model.loss(model.network_outputs(images), targets[:1])
    with pytest.raises(ValueError, match="needs 'semantic'"):
        model.loss(model.network_outputs(images), [dict(t, semantic=t["semantic"][:5])
                                                   for t in targets])


def test_postprocess_reads_out_the_three_tasks():
    torch.manual_seed(0)
    model = get_model("panoptic_fpn", box_score_thresh=0.0).eval()
    images, _ = _scenes(2, size=64)
    with torch.no_grad():
        outputs = model(images)
    panoptic = model.postprocess(outputs, task="panoptic")
    assert all(torch.equal(p, o["panoptic"]) for p, o in zip(panoptic, outputs, strict=True))
    semantic = model.postprocess(outputs, task="semantic")
    assert all(torch.equal(s, o["panoptic"][..., 0]) for s, o in zip(semantic, outputs,
                                                                      strict=True))
    # other thresholds redo the merge
    redone = model.postprocess(outputs, task="panoptic", score_thresh=0.0, stuff_area_thresh=1)
    for p, o in zip(redone, outputs, strict=True):
        expected = MODEL.combine_panoptic(o["sem_seg"].argmax(0), o["masks"][:, 0] > 0.5,
                                          o["scores"], o["labels"],
                                          thing_categories=(-1, 3, 4, 5),
                                          stuff_categories=(-1, 0, 1, 2), score_thresh=0.0,
                                          stuff_area_thresh=1)
        assert torch.equal(p, expected)
    instances = model.postprocess(outputs, task="instance", mask_threshold=0.3)
    for got, o in zip(instances, outputs, strict=True):
        assert torch.equal(got["labels"], o["labels"] + 2)  # detection labels 1..3 -> 3..5
        assert torch.equal(got["masks"], o["masks"][:, 0] > 0.3)
        assert torch.equal(got["scores"], o["scores"]) and torch.equal(got["boxes"], o["boxes"])
    assert sum(len(i["labels"]) for i in instances) > 0  # not vacuous
    with pytest.raises(ValueError, match="task must be one of"):
        model.postprocess(outputs, task="depth")
    with pytest.raises(ValueError, match="evaluation output"):
        model.postprocess({"panoptic": None}, task="panoptic")
