"""``SamPredictor`` and ``ResizeLongestSide`` against segment-anything's (same random weights, a
non-square uint8 image), and the predictor's input errors.

Tolerances: the image is resized by PIL in both (identical arrays); embeddings, logits and IoUs
``atol=1e-5`` (same operations, same order); boolean masks equal wherever the logit is farther
than 1e-4 from the threshold.
"""

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor as ReferencePredictor
from segment_anything.utils.transforms import ResizeLongestSide as ReferenceResize

from segedu.models.foundation.sam import ResizeLongestSide, SamPredictor

from ._pairs import sams


@pytest.fixture(scope="module")
def predictors():
    reference, ours = sams(seed=21)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)  # upscaled to 82 x 128 inside
    ref_pred, our_pred = ReferencePredictor(reference), SamPredictor(ours)
    ref_pred.set_image(image)
    our_pred.set_image(image)
    return ref_pred, our_pred, image


def test_resize_longest_side_matches_reference():
    rng = np.random.default_rng(1)
    ours, theirs = ResizeLongestSide(128), ReferenceResize(128)
    for h, w in [(45, 70), (300, 97), (128, 128), (33, 129)]:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        resized = ours.apply_image(image)
        assert max(resized.shape[:2]) == 128 and resized.dtype == np.uint8
        np.testing.assert_array_equal(resized, theirs.apply_image(image))
        coords = rng.uniform(0, 100, (5, 2))
        np.testing.assert_array_equal(
            ours.apply_coords(coords, (h, w)), theirs.apply_coords(coords, (h, w))
        )
        boxes = rng.uniform(0, 100, (3, 4))
        np.testing.assert_array_equal(
            ours.apply_boxes(boxes, (h, w)), theirs.apply_boxes(boxes, (h, w))
        )
        t = torch.from_numpy(coords)
        torch.testing.assert_close(
            ours.apply_coords_torch(t, (h, w)), theirs.apply_coords_torch(t, (h, w))
        )
        tb = torch.from_numpy(boxes)
        torch.testing.assert_close(
            ours.apply_boxes_torch(tb, (h, w)), theirs.apply_boxes_torch(tb, (h, w))
        )
    # the float variant resizes the height and width (segment-anything's reads B and C, a bug)
    assert ours.apply_image_torch(torch.rand(2, 3, 50, 100)).shape == (2, 3, 64, 128)


def test_embedding_and_sizes_match_reference(predictors):
    ref_pred, our_pred, image = predictors
    assert our_pred.original_size == tuple(ref_pred.original_size) == (45, 70)
    assert our_pred.input_size == ref_pred.input_size == (82, 128)
    torch.testing.assert_close(
        our_pred.get_image_embedding(), ref_pred.get_image_embedding(), rtol=0, atol=1e-5
    )


PROMPTS = [
    dict(point_coords=np.array([[30.0, 20.0]]), point_labels=np.array([1])),
    dict(point_coords=np.array([[10, 5], [60, 40], [35, 22]]), point_labels=np.array([1, 0, 1])),
    dict(box=np.array([5, 8, 50, 40])),
    dict(
        point_coords=np.array([[20.0, 30.0]]),
        point_labels=np.array([0]),
        box=np.array([0, 0, 69, 44]),
    ),
]


@pytest.mark.parametrize("prompt", range(len(PROMPTS)))
@pytest.mark.parametrize("multimask", [True, False])
def test_predict_matches_reference(predictors, prompt, multimask):
    ref_pred, our_pred, _ = predictors
    kwargs = dict(PROMPTS[prompt], multimask_output=multimask)
    masks, iou, low = our_pred.predict(**kwargs)
    masks_ref, iou_ref, low_ref = ref_pred.predict(**kwargs)
    m = 3 if multimask else 1
    assert (
        masks.shape == (m, 45, 70)
        and masks.dtype == bool
        and iou.shape == (m,)
        and low.shape == (m, 32, 32)
    )
    np.testing.assert_allclose(low, low_ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(iou, iou_ref, rtol=0, atol=1e-5)
    logits, _, _ = ref_pred.predict(**kwargs, return_logits=True)
    sure = np.abs(logits) > 1e-4
    np.testing.assert_array_equal(masks[sure], masks_ref[sure])
    # logits as well
    ours_logits, _, _ = our_pred.predict(**kwargs, return_logits=True)
    np.testing.assert_allclose(ours_logits, logits, rtol=0, atol=1e-5)
    # feeding the low-res logits back as a mask prompt
    best = int(np.argmax(iou_ref))
    again = our_pred.predict(**kwargs, mask_input=low_ref[best][None])
    again_ref = ref_pred.predict(**kwargs, mask_input=low_ref[best][None])
    np.testing.assert_allclose(again[2], again_ref[2], rtol=0, atol=1e-5)


def test_predict_torch_batched_matches_reference(predictors):
    ref_pred, our_pred, _ = predictors
    torch.manual_seed(0)
    coords, labels = torch.rand(4, 2, 2) * 80, torch.randint(0, 2, (4, 2))
    boxes = torch.tensor([[0.0, 0.0, 60.0, 60.0]] * 4)
    for kwargs in (dict(boxes=None), dict(boxes=boxes)):
        ours = our_pred.predict_torch(
            coords, labels, multimask_output=True, return_logits=True, **kwargs
        )
        theirs = ref_pred.predict_torch(
            coords, labels, multimask_output=True, return_logits=True, **kwargs
        )
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_bgr_input_is_flipped(predictors):
    ref_pred, our_pred, image = predictors
    other = SamPredictor(our_pred.model)
    other.set_image(np.ascontiguousarray(image[..., ::-1]), image_format="BGR")
    torch.testing.assert_close(
        other.get_image_embedding(), our_pred.get_image_embedding(), rtol=0, atol=0
    )


def test_bad_input_errors(predictors):
    _, our_pred, image = predictors
    fresh = SamPredictor(our_pred.model)
    with pytest.raises(RuntimeError, match="set_image"):
        fresh.predict(point_coords=np.array([[1, 2]]), point_labels=np.array([1]))
    with pytest.raises(RuntimeError, match="set_image"):
        fresh.get_image_embedding()
    with pytest.raises(TypeError, match="uint8"):
        fresh.set_image(image.astype(np.float32))
    with pytest.raises(TypeError, match="NumPy"):
        fresh.set_image(torch.from_numpy(image))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        fresh.set_image(image[..., 0])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        fresh.set_image(np.zeros((10, 10, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="image_format"):
        fresh.set_image(image, image_format="HSV")
    with pytest.raises(ValueError, match="long side"):
        fresh.set_torch_image(torch.zeros(1, 3, 64, 64), (64, 64))
    with pytest.raises(ValueError, match="point_labels must be supplied"):
        our_pred.predict(point_coords=np.array([[1, 2]]))
    with pytest.raises(ValueError, match="point_labels must be supplied"):
        our_pred.predict_torch(torch.zeros(1, 1, 2), None)
    with pytest.raises(ValueError, match="without point_coords"):
        our_pred.predict(point_labels=np.array([1]))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        our_pred.predict(point_coords=np.array([1, 2]), point_labels=np.array([1]))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        our_pred.predict(point_coords=np.array([[1, 2]]), point_labels=np.array([1, 0]))
    with pytest.raises(ValueError, match="box"):
        our_pred.predict(box=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="mask_input"):
        our_pred.predict(box=np.array([1, 2, 3, 4]), mask_input=np.zeros((1, 64, 64)))
