"""Automatic mask generation against segment-anything's ``SamAutomaticMaskGenerator`` and the
helpers of ``segment_anything.utils.amg``.

Two kinds of models, shared by the reference generator and segedu's:

- the small random-weight SAM of ``_pairs`` (weights copied from segment-anything into segedu).
  Its masks are noise that covers the whole image (so every box is the image and NMS keeps one
  mask per crop) and its predicted IoUs and stability scores are low: thresholds are chosen so
  that some masks survive (pred_iou 0.15, stability 0.08 at offset 0.1), and a run with NMS
  switched off (threshold 1.0) compares many masks;
- the same SAM with its mask decoder replaced by :class:`KernelDecoder`, a hand-made decoder
  whose masks are blobs around the prompted point (similarity of the point's random Fourier code
  with the image's dense code) plus a little image content. This gives the varied, overlapping,
  localised masks that exercise the IoU and stability filters, NMS within and across crops
  (``crop_n_layers`` 1 and 2), the crop-edge filter and small-region removal. Both generators get
  the same object, so this compares the pipelines only (the decoder itself is compared in
  ``test_mask_decoder.py``).

Records are compared field by field: segmentations equal, bbox / area / crop_box / point_coords
equal, predicted_iou and stability_score ``atol=1e-5``, in the same order.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from segment_anything import SamAutomaticMaskGenerator as Reference
from segment_anything.utils import amg as ref_amg
from torch import nn

from segedu.models.foundation.sam import SamAutomaticMaskGenerator, amg

from ._pairs import sams


class KernelDecoder(nn.Module):
    """Masks ``gain * (sim(point, pixel) - t_k + 0.3 content)`` for ``t_k`` in 0.15, 0.35, 0.55,
    with ``sim`` the normalised dot product of the point's position code with the dense code."""

    def __init__(self, foreground_embedding: torch.Tensor, gain: float = 12.0) -> None:
        super().__init__()
        self.register_buffer("fg", foreground_embedding.detach().clone())
        self.gain = gain

    def forward(
        self,
        image_embeddings,
        image_pe,
        sparse_prompt_embeddings,
        dense_prompt_embeddings,
        multimask_output,
    ):
        point = sparse_prompt_embeddings[:, 0] - self.fg  # the first point's position code (B, C)
        sim = torch.einsum("bc,chw->bhw", point, image_pe[0]) * (
            2 / point.shape[1]
        )  # 1 at the point
        content = image_embeddings[0, 0] / image_embeddings[0, 0].abs().max()
        logits = torch.stack([sim - t + 0.3 * content for t in (0.15, 0.35, 0.55)], 1) * self.gain
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        iou = torch.sigmoid(logits.mean((-1, -2)) / self.gain + 1)
        return (logits, iou) if multimask_output else (logits[:, :1], iou[:, :1])


def _scene() -> np.ndarray:
    """A flat 72 x 100 scene with three coloured shapes."""
    yy, xx = np.mgrid[:72, :100]
    image = np.full((72, 100, 3), 90, np.uint8)
    image[(yy - 30) ** 2 + (xx - 40) ** 2 < 200] = [220, 30, 30]
    image[(yy - 50) ** 2 + (xx - 75) ** 2 < 150] = [20, 200, 40]
    image[5:20, 70:95] = [30, 30, 220]
    return image


@pytest.fixture(scope="module")
def random_models():
    return sams(seed=31)


@pytest.fixture(scope="module")
def kernel_models():
    reference, ours = sams(seed=11)
    decoder = KernelDecoder(reference.prompt_encoder.point_embeddings[1].weight[0])
    reference.mask_decoder = decoder
    ours.mask_decoder = decoder
    return reference, ours


def _compare(records, expected):
    assert len(records) == len(expected)
    for ours, theirs in zip(records, expected, strict=True):
        assert set(ours) == set(theirs)
        seg, seg_ref = ours["segmentation"], theirs["segmentation"]
        if isinstance(seg, np.ndarray):
            assert seg.dtype == bool and np.array_equal(seg, seg_ref)
        else:
            assert seg == seg_ref
        for key in ("area", "bbox", "crop_box"):
            assert ours[key] == theirs[key], key
        np.testing.assert_allclose(ours["point_coords"], theirs["point_coords"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(
            ours["predicted_iou"], theirs["predicted_iou"], rtol=0, atol=1e-5
        )
        np.testing.assert_allclose(
            ours["stability_score"], theirs["stability_score"], rtol=0, atol=1e-5
        )


def _run(models, image, **kwargs):
    reference, ours = models
    expected = Reference(reference, **kwargs).generate(image)
    records = SamAutomaticMaskGenerator(ours, **kwargs).generate(image)
    _compare(records, expected)
    return records


@pytest.mark.parametrize("box_nms_thresh, at_least", [(0.7, 1), (1.0, 10)])
def test_random_weights_match_reference(random_models, box_nms_thresh, at_least):
    image = np.random.default_rng(0).integers(0, 256, (72, 100, 3), dtype=np.uint8)
    records = _run(
        random_models,
        image,
        points_per_side=4,
        pred_iou_thresh=0.15,
        stability_score_thresh=0.08,
        stability_score_offset=0.1,
        box_nms_thresh=box_nms_thresh,
    )
    assert len(records) >= at_least
    assert all(r["predicted_iou"] > 0.15 and r["stability_score"] >= 0.08 for r in records)


@pytest.mark.parametrize("crop_n_layers, points, at_least", [(0, 6, 20), (1, 6, 20), (2, 4, 20)])
def test_localised_masks_match_reference_with_crops(kernel_models, crop_n_layers, points, at_least):
    kwargs = dict(
        points_per_side=points,
        pred_iou_thresh=0.64,
        stability_score_thresh=0.4,
        crop_n_layers=crop_n_layers,
    )
    if crop_n_layers == 2:
        kwargs.update(
            pred_iou_thresh=0.0, stability_score_thresh=0.0, crop_n_points_downscale_factor=2
        )
    records = _run(kernel_models, _scene(), **kwargs)
    assert len(records) >= at_least
    crops = {tuple(r["crop_box"]) for r in records}
    assert len(crops) >= (1 if crop_n_layers == 0 else 2)  # masks from several crops survive


KWARGS = dict(points_per_side=6, pred_iou_thresh=0.64, stability_score_thresh=0.4)


def test_small_region_removal_matches_reference(kernel_models):
    pytest.importorskip("cv2", reason="segment-anything's small-region removal needs OpenCV")
    kwargs = dict(KWARGS, crop_n_layers=1)
    plain = SamAutomaticMaskGenerator(kernel_models[1], **kwargs).generate(_scene())
    cleaned = _run(kernel_models, _scene(), min_mask_region_area=100, **kwargs)
    changed = [
        r
        for r in cleaned
        if not any(np.array_equal(r["segmentation"], p["segmentation"]) for p in plain)
    ]
    assert changed and len(cleaned) >= 10  # the clean-up really changed some masks


@pytest.mark.parametrize("mode", ["uncompressed_rle", "coco_rle"])
def test_output_modes_match_reference(kernel_models, mode):
    records = _run(kernel_models, _scene(), output_mode=mode, **KWARGS)
    assert len(records) >= 10 and isinstance(records[0]["segmentation"], dict)
    if mode == "uncompressed_rle":  # decodes to the binary masks
        masks = SamAutomaticMaskGenerator(kernel_models[1], **KWARGS).generate(_scene())
        for record, binary in zip(records, masks, strict=True):
            assert np.array_equal(amg.rle_to_mask(record["segmentation"]), binary["segmentation"])


def test_generator_input_errors(random_models):
    _, ours = random_models
    with pytest.raises(ValueError, match="exactly one"):
        SamAutomaticMaskGenerator(ours, points_per_side=4, point_grids=[amg.build_point_grid(4)])
    with pytest.raises(ValueError, match="output_mode"):
        SamAutomaticMaskGenerator(ours, output_mode="polygons")
    generator = SamAutomaticMaskGenerator(ours, points_per_side=2)
    with pytest.raises(TypeError, match="uint8"):
        generator.generate(np.zeros((20, 20, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        generator.generate(np.zeros((20, 20), dtype=np.uint8))


# ---------------------------------------------------------------- helpers of amg.py


def test_point_grids_and_crop_boxes_match_reference():
    for n in (1, 4, 7):
        np.testing.assert_array_equal(amg.build_point_grid(n), ref_amg.build_point_grid(n))
    for ours, theirs in zip(
        amg.build_all_layer_point_grids(16, 3, 2),
        ref_amg.build_all_layer_point_grids(16, 3, 2),
        strict=True,
    ):
        np.testing.assert_array_equal(ours, theirs)
    for size in [(72, 100), (1500, 2250), (13, 9)]:
        for layers in (0, 1, 2, 3):
            assert amg.generate_crop_boxes(size, layers, 512 / 1500) == ref_amg.generate_crop_boxes(
                size, layers, 512 / 1500
            )


def test_stability_score_matches_reference():
    logits = torch.randn(4, 3, 20, 30) * 3
    logits[0, 0] = -5  # empty masks: 0 / 0
    ours = amg.calculate_stability_score(logits, 0.0, 1.0)
    theirs = ref_amg.calculate_stability_score(logits, 0.0, 1.0)
    torch.testing.assert_close(ours, theirs, equal_nan=True)
    assert ours.shape == (4, 3) and torch.isnan(ours[0, 0])


def test_mask_to_box_matches_reference_including_empty_masks():
    masks = torch.rand(3, 2, 15, 20) > 0.97
    masks[0, 0] = False
    masks[1, 1] = False
    masks[1, 1, 4, 7] = True  # a single pixel: box (7, 4, 7, 4)
    ours = amg.batched_mask_to_box(masks)
    assert torch.equal(ours, ref_amg.batched_mask_to_box(masks))
    assert ours[0, 0].tolist() == [0, 0, 0, 0] and ours[1, 1].tolist() == [7, 4, 7, 4]
    assert torch.equal(
        amg.batched_mask_to_box(masks[0, 1]), ref_amg.batched_mask_to_box(masks[0, 1])
    )


def test_rle_round_trip_matches_reference():
    masks = torch.rand(4, 9, 13) > 0.6
    masks[0] = True  # starts with a 1: counts start with 0
    masks[1] = False
    ours = amg.mask_to_rle(masks)
    assert ours == ref_amg.mask_to_rle_pytorch(masks)
    for rle, mask in zip(ours, masks, strict=True):
        np.testing.assert_array_equal(amg.rle_to_mask(rle), mask.numpy())
        np.testing.assert_array_equal(amg.rle_to_mask(rle), ref_amg.rle_to_mask(rle))
        assert amg.area_from_rle(rle) == int(mask.sum()) == ref_amg.area_from_rle(rle)
        assert amg.coco_encode_rle(rle) == ref_amg.coco_encode_rle(rle)


def test_remove_small_regions_matches_opencv_reference():
    pytest.importorskip("cv2", reason="segment-anything's remove_small_regions needs OpenCV")
    rng = np.random.default_rng(3)
    for trial in range(20):
        mask = rng.random((24, 30)) > (0.3 + 0.04 * trial)
        for mode in ("holes", "islands"):
            for area in (2, 5, 40, 10_000):  # 10_000: every island is small, the largest stays
                ours, changed = amg.remove_small_regions(mask, area, mode)
                theirs, changed_ref = ref_amg.remove_small_regions(mask, area, mode)
                assert changed == changed_ref
                np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError, match="mode"):
        amg.remove_small_regions(mask, 3, "gaps")


def test_crop_helpers_match_reference():
    boxes = torch.tensor([[0, 0, 10, 10], [15, 2, 40, 30], [1, 1, 5, 5]])
    crop, orig = [20, 10, 60, 50], [0, 0, 100, 60]
    assert torch.equal(amg.uncrop_boxes_xyxy(boxes, crop), ref_amg.uncrop_boxes_xyxy(boxes, crop))
    assert torch.equal(
        amg.is_box_near_crop_edge(boxes, crop, orig),
        ref_amg.is_box_near_crop_edge(boxes, crop, orig),
    )
    points = torch.rand(5, 2) * 30
    assert torch.equal(amg.uncrop_points(points, crop), ref_amg.uncrop_points(points, crop))
    masks = torch.rand(2, 40, 40) > 0.5
    assert torch.equal(
        amg.uncrop_masks(masks, crop, 60, 100), ref_amg.uncrop_masks(masks, crop, 60, 100)
    )
    box = torch.tensor([3, 4, 10, 20])
    assert (
        amg.box_xyxy_to_xywh(box).tolist()
        == ref_amg.box_xyxy_to_xywh(box).tolist()
        == [3, 4, 7, 16]
    )
    assert box.tolist() == [3, 4, 10, 20]  # not modified
