"""The common sample format: make_target (and its boxes), validate_sample, panoptic_to_hw2."""

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes as tv_masks_to_boxes

from segedu.data import SampleError, make_target, panoptic_to_hw2, validate_sample


def _masks(h=12, w=16):
    m = torch.zeros(2, h, w, dtype=torch.bool)
    m[0, 2:5, 3:9] = True  # rows 2..4, cols 3..8
    m[1, 7:12, 0:2] = True  # touches the bottom-left corner
    return m


def _boxes(masks):
    """The boxes make_target derives from ``masks (N, H, W)``, as a plain tensor."""
    target = make_target(canvas_size=tuple(masks.shape[-2:]), masks=masks)
    return target["boxes"].as_subclass(torch.Tensor)


def test_derived_boxes_cover_whole_pixels():
    assert _boxes(_masks()).tolist() == [[3, 2, 9, 5], [0, 7, 2, 12]]


def test_derived_boxes_are_torchvisions_plus_one_pixel():
    # torchvision returns the coordinates of the last pixel (inclusive); the sample format the
    # edge after it (make_target adds 1 to segedu.ops.masks_to_boxes, which is torchvision's)
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(20, 31, 17, generator=gen) > 0.97
    masks = masks[masks.flatten(1).any(1)]
    expected = tv_masks_to_boxes(masks) + torch.tensor([0, 0, 1, 1])
    assert torch.equal(_boxes(masks), expected)


def test_derived_boxes_of_an_empty_mask_and_of_no_masks():
    masks = torch.zeros(1, 5, 5, dtype=torch.bool)
    assert _boxes(masks).tolist() == [[0, 0, 0, 0]]
    assert _boxes(torch.zeros(0, 5, 5, dtype=torch.bool)).shape == (0, 4)
    with pytest.raises(SampleError, match=r"masks must have shape \(N, H, W\)"):
        make_target(canvas_size=(5, 5), masks=torch.zeros(5, 5, dtype=torch.bool))


def test_make_target_wraps_in_tv_tensors_and_derives_boxes():
    t = make_target(canvas_size=(12, 16), masks=_masks(), labels=[3, 4],
                    semantic=torch.zeros(12, 16))
    assert isinstance(t["masks"], tv_tensors.Mask) and t["masks"].dtype == torch.bool
    assert isinstance(t["boxes"], tv_tensors.BoundingBoxes)
    assert t["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
    assert tuple(t["boxes"].canvas_size) == (12, 16)
    assert t["labels"].dtype == torch.int64
    assert t["semantic"].dtype == torch.int64


def test_validate_sample_accepts_good_sample():
    image = tv_tensors.Image(torch.rand(3, 12, 16))
    t = make_target(canvas_size=(12, 16), masks=_masks(), labels=[3, 4])
    validate_sample(image, t)


@pytest.mark.parametrize(
    "image, message",
    [
        (torch.rand(12, 16), "shape"),
        (torch.rand(4, 12, 16), "shape"),
        (torch.randint(0, 255, (3, 12, 16), dtype=torch.uint8), "float"),
        (torch.rand(3, 12, 16) * 2, r"\[0, 1\]"),
        (np.zeros((3, 12, 16)), "tensor"),
    ],
)
def test_validate_sample_rejects_bad_images(image, message):
    t = make_target(canvas_size=(12, 16), masks=_masks())
    with pytest.raises(SampleError, match=message):
        validate_sample(image, t, source="img_0001.png")


def test_errors_name_the_source_and_key():
    with pytest.raises(SampleError,
                       match=r"target\['labels'\] in scenes\[7\].*3 entries.*2 instances"):
        make_target(canvas_size=(12, 16), masks=_masks(), labels=[1, 2, 3], source="scenes[7]")


def test_masks_and_boxes_that_disagree_are_rejected():
    with pytest.raises(SampleError, match="box 1 .* disagrees with its mask"):
        make_target(canvas_size=(12, 16), masks=_masks(), boxes=[[3, 2, 9, 5], [5, 5, 9, 9]],
                    source="a.json")


def test_mask_shape_must_match_canvas():
    with pytest.raises(SampleError, match=r"target\['masks'\].*\(N, H, W\)"):
        make_target(canvas_size=(10, 16), masks=_masks())


def test_semantic_and_panoptic_shapes_checked():
    with pytest.raises(SampleError, match="semantic"):
        make_target(canvas_size=(12, 16), semantic=torch.zeros(12, 15))
    with pytest.raises(SampleError, match="panoptic"):
        make_target(canvas_size=(12, 16), panoptic=torch.zeros(3, 12, 16))


def test_boxes_must_be_xyxy_and_finite():
    with pytest.raises(SampleError, match="x2 < x1"):
        make_target(canvas_size=(12, 16), boxes=[[5, 5, 2, 9]])
    with pytest.raises(SampleError, match="NaN"):
        make_target(canvas_size=(12, 16), boxes=[[0, 0, float("nan"), 3]])


def test_panoptic_to_hw2_layouts():
    pan = torch.stack([torch.full((4, 5), 3), torch.arange(20).reshape(4, 5)])
    hw2 = panoptic_to_hw2(pan)
    assert hw2.shape == (4, 5, 2)
    assert torch.equal(hw2[..., 0], pan[0]) and torch.equal(hw2[..., 1], pan[1])
    batch = panoptic_to_hw2(pan[None].repeat(2, 1, 1, 1))
    assert batch.shape == (2, 4, 5, 2)
    with pytest.raises(SampleError):
        panoptic_to_hw2(torch.zeros(4, 5, 2))
