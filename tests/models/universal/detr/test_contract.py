"""DETR keeps the universal contract: ``targets`` from a panoptic map, ``loss`` and
``total_loss`` of the set criterion, ``postprocess(task=...)`` as boxes.

The targets are checked against ``torchvision.ops.masks_to_boxes`` (DETR's own
``util.box_ops.masks_to_boxes`` has the same arithmetic: ``x2, y2`` at the last pixel; segedu's
boxes run along the pixels' outer edges, one more); the loss against
:class:`~segedu.models.universal.set_prediction.SetCriterion` itself (tested against
``transformers``' ``ImageLoss`` in ``test_set_criterion.py``). A tiny slim DETR (width 32, 2 + 2
layers, 5 queries) keeps every run under a second.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_convert, masks_to_boxes

from segedu.models import get_model, model_family
from segedu.models.universal.detr import DETR, SetCriterion, detr

TINY = dict(backbone_width=8, hidden_dim=32, num_heads=4, encoder_layers=2, decoder_layers=2,
            ffn_dim=64, num_queries=5)


def panoptic_map() -> torch.Tensor:
    """A 12 x 16 ground truth: stuff 0 (sky) on top, stuff 1 below, thing 3 (ids 1 and 2),
    and a region of category 9, outside a 6-class model (void)."""
    target = torch.zeros(12, 16, 2, dtype=torch.int64)
    target[6:, :, 0] = 1
    target[2:5, 3:7] = torch.tensor([3, 1])
    target[8:11, 10:11] = torch.tensor([3, 2])  # one pixel wide
    target[0:2, 14:16] = torch.tensor([9, 0])
    return target


def test_registered_in_the_universal_family():
    assert model_family("detr") == model_family("detr_resnet50") == "universal"
    model = get_model("detr")
    assert isinstance(model, DETR) and model.num_classes == 6
    count = sum(p.numel() for p in model.parameters())
    assert count == 1_021_019 and "1,021,019" in detr.__doc__


def test_targets_are_the_boxes_of_every_segment():
    model = get_model("detr", **TINY)
    target = panoptic_map()
    out = model.targets(target)
    # segments sorted by instance, then category: stuff 0, stuff 1, thing (3, 1), thing (3, 2);
    # category 9 is void
    assert out["labels"].tolist() == [0, 1, 3, 3] and out["labels"].dtype == torch.int64
    masks = torch.stack([(target[..., 0] == c) & (target[..., 1] == i)
                         for c, i in [(0, 0), (1, 0), (3, 1), (3, 2)]])
    expected = masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # pixel edges
    expected = box_convert(expected / torch.tensor([16.0, 12.0, 16.0, 12.0]), "xyxy", "cxcywh")
    torch.testing.assert_close(out["boxes"], expected)
    assert out["boxes"][3, 2] == pytest.approx(1 / 16)  # the one-pixel-wide thing has a width
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        model.targets(target[..., 0])


def test_loss_is_the_set_criterion_and_stays_out_of_the_state_dict():
    torch.manual_seed(0)
    model = get_model("detr", **TINY)
    keys = list(model.state_dict())
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    targets = [model.targets(panoptic_map()), model.targets(panoptic_map()[:, :8])]
    outputs = model(images)
    losses = model.loss(outputs, targets)
    criterion = SetCriterion(num_classes=6)
    expected = criterion(outputs, targets)
    assert list(losses) == list(expected)
    for key in losses:
        torch.testing.assert_close(losses[key], expected[key])
    total = model.total_loss(losses)
    torch.testing.assert_close(total, criterion.total(expected))
    assert total != sum(losses.values())  # weighted (1, 5, 2), not a plain sum
    total.backward()
    assert model.class_embed.weight.grad is not None
    assert list(model.state_dict()) == keys  # the criterion is no part of the checkpoint
    assert get_model("detr", **TINY, criterion={"eos_coef": 0.5})._criterion(
        torch.device("cpu")).eos_coef == 0.5


def test_postprocess_reads_out_boxes_only():
    model = get_model("detr", **TINY).eval()
    with torch.no_grad():
        outputs = model(torch.rand(1, 3, 64, 64))
    (relative,) = model.postprocess(outputs, task="instance")
    (pixels,) = model.postprocess(outputs, task="instance", output_size=(40, 80))
    assert len(relative["scores"]) == 5 and relative["labels"].dtype == torch.int64
    torch.testing.assert_close(pixels["boxes"], relative["boxes"] * torch.tensor([80, 40, 80, 40]))
    for task in ("semantic", "panoptic"):
        with pytest.raises(ValueError, match="boxes only"):
            model.postprocess(outputs, task=task)
    with pytest.raises(ValueError, match="task must be one of"):
        model.postprocess(outputs, task="detection")
    with pytest.raises(ValueError, match="output_size"):
        model.postprocess(outputs, task="instance", output_size=(0, 10))
