"""Mask2Former as a universal-family model: ``targets``, ``loss`` and ``postprocess``
(segedu.models.universal.base), against the free pieces they are built from."""

from __future__ import annotations

import pytest
import torch

from segedu.data import SyntheticScenes
from segedu.data.synthetic_scenes import SCENE_STUFF
from segedu.models import get_model
from segedu.models.universal.mask2former import MaskSetCriterion


def tiny(**kwargs):
    return get_model("mask2former", backbone_width=8, hidden_dim=32, num_queries=6, num_heads=2,
                     encoder_layers=1, encoder_ffn_dim=32, decoder_layers=2, decoder_ffn_dim=32,
                     **kwargs)


def plain(x):
    return x.as_subclass(torch.Tensor)


def scene_segments(target: dict) -> dict[str, torch.Tensor]:
    """The segments written out from a scene's own annotation: one per stuff class present (in
    class order), then the thing masks in instance order."""
    semantic = plain(target["semantic"])
    stuff = [k for k in SCENE_STUFF if (semantic == k).any()]
    masks = [semantic == k for k in stuff] + list(plain(target["masks"]).bool())
    return {"labels": torch.tensor(stuff + plain(target["labels"]).tolist(), dtype=torch.int64),
            "masks": torch.stack(masks)}


def test_targets_are_the_scene_segments():
    # from the (H, W, 2) panoptic map alone: the same segments, in the same order, as the scene's
    # own annotation gives (stuff first, then the things in instance order)
    with torch.device("meta"):
        model = get_model("mask2former")
    scenes = SyntheticScenes(size=48, length=4, seed=3)
    for i in range(len(scenes)):
        _, target = scenes[i]
        expected = scene_segments(target)
        got = model.targets(plain(target["panoptic"]).permute(1, 2, 0))
        assert torch.equal(got["labels"], expected["labels"])
        assert torch.equal(got["masks"], expected["masks"])
        assert got["masks"].dtype == torch.bool and got["labels"].dtype == torch.int64


def test_targets_drop_void_and_unknown_categories():
    with torch.device("meta"):
        model = get_model("mask2former", num_classes=3)
    panoptic = torch.tensor([[[-1, 0], [0, 0], [2, 1]], [[2, 2], [7, 0], [2, 1]]])
    got = model.targets(panoptic)
    assert got["labels"].tolist() == [0, 2, 2]
    assert got["masks"].int().tolist() == [[[0, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 1]],
                                           [[0, 0, 0], [1, 0, 0]]]
    empty = model.targets(torch.full((2, 3, 2), -1))
    assert empty["labels"].shape == (0,) and empty["masks"].shape == (0, 2, 3)
    with pytest.raises(ValueError, match=r"\(H, W, 2\) panoptic map"):
        model.targets(panoptic[..., 0])
    with pytest.raises(TypeError, match="integer panoptic map"):
        model.targets(panoptic.float())


def test_loss_is_the_set_criterion_and_leaves_the_state_dict_alone():
    torch.manual_seed(0)
    model = tiny(criterion={"num_points": 50})
    keys = set(model.state_dict())
    scenes = SyntheticScenes(size=32, length=2, seed=0)
    images = torch.stack([plain(scenes[i][0]) for i in range(2)])
    targets = [model.targets(plain(scenes[i][1]["panoptic"]).permute(1, 2, 0)) for i in range(2)]
    outputs = model(images)
    torch.manual_seed(1)
    losses = model.loss(outputs, targets)
    torch.manual_seed(1)
    criterion = MaskSetCriterion(num_classes=6, num_points=50)
    expected = criterion(outputs, targets)
    assert losses.keys() == expected.keys() and "loss_dice_1" in losses  # every layer
    for key in expected:
        torch.testing.assert_close(losses[key], expected[key], rtol=0, atol=0)
    torch.testing.assert_close(model.total_loss(losses), criterion.total(expected), rtol=0, atol=0)
    model.total_loss(losses).backward()
    assert model.sem_seg_head.predictor.class_embed.weight.grad is not None
    assert set(model.state_dict()) == keys  # the criterion is not a submodule


def test_postprocess_is_the_readout_of_each_task():
    torch.manual_seed(0)
    model = tiny().eval()
    with torch.no_grad():
        outputs = model(torch.rand(2, 3, 40, 36))
    logits, masks = outputs["pred_logits"], outputs["pred_masks"]
    assert torch.equal(model.postprocess(outputs, task="semantic", output_size=(40, 36)),
                       model.semantic_inference(logits, masks, output_size=(40, 36)))
    got = model.postprocess(outputs, task="instance", topk=5, things=(3, 4, 5))
    expected = model.instance_inference(logits, masks, topk=5, things=(3, 4, 5))
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(
        model.postprocess(outputs, task="panoptic", things=(3, 4, 5), object_mask_threshold=0.0),
        model.panoptic_inference(logits, masks, things=(3, 4, 5), object_mask_threshold=0.0))
    with pytest.raises(ValueError, match="task must be one of"):
        model.postprocess(outputs, task="depth")
    with pytest.raises(ValueError, match="'pred_logits' and 'pred_masks'"):
        model.postprocess({"pred_logits": logits}, task="semantic")
