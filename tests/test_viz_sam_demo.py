"""The SAM click demo: a click gives the predictor's three masks and scores, drawn in the widget."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from segedu.models import get_model
from segedu.models.foundation.sam import SamPredictor
from segedu.viz.sam_demo import (
    MASK_COLOR,
    PLACEHOLDER_GREY,
    SamClickDemo,
    answer_width,
    render_mask,
)


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="module")
def sam():
    torch.manual_seed(0)
    return get_model("sam_tiny").eval()


def test_a_click_shows_the_predictors_three_masks_and_scores(sam):
    image = (np.random.default_rng(0).random((96, 120, 3)) * 255).astype(np.uint8)
    demo = SamClickDemo(SamPredictor(sam), image)
    masks, scores = demo.click(40, 50)
    reference = SamPredictor(sam)
    reference.set_image(image)
    expected_masks, expected_scores, _ = reference.predict(point_coords=np.array([[40.0, 50.0]]),
                                                           point_labels=np.array([1]),
                                                           multimask_output=True)
    assert masks.shape == (3, 96, 120) and np.array_equal(masks, expected_masks)
    np.testing.assert_array_equal(scores, expected_scores)
    best = int(np.argmax(scores))
    for k in range(3):
        shown = _decode(demo.answers[k].value)
        assert np.array_equal(shown, render_mask(image, masks[k], demo.points, demo.labels))
        assert f"{scores[k]:.3f}" in demo.captions[k].value
        assert ("(best)" in demo.captions[k].value) == (k == best)
    # a shift-click, as the browser reports it, adds a background point to the same prompt
    demo._on_event({"dataX": 5, "dataY": 7, "shiftKey": True, "type": "click"})
    assert demo.labels.tolist() == [1, 0] and demo.points.tolist() == [[40, 50], [5, 7]]
    expected_masks, _, _ = reference.predict(point_coords=demo.points, point_labels=demo.labels,
                                             multimask_output=True)
    assert np.array_equal(demo.masks, expected_masks)
    demo.reset()
    assert len(demo.points) == 0
    for answer, caption in zip(demo.answers, demo.captions, strict=True):  # blank slots again
        assert np.array_equal(_decode(answer.value), np.full_like(image, PLACEHOLDER_GREY))
        assert caption.value == ""


def test_before_the_first_click_the_slots_are_blank_images_of_one_width(sam):
    image = (np.random.default_rng(1).random((90, 300, 3)) * 255).astype(np.uint8)
    demo = SamClickDemo(SamPredictor(sam), image)
    for answer in demo.answers:  # a real, blank image: no broken-image icon
        assert np.array_equal(_decode(answer.value), np.full_like(image, PLACEHOLDER_GREY))
    demo.click(150, 45)  # one caption is longer ("(best)", in bold): the widths must not follow it
    widths = {w.layout.width for w in demo.answers + demo.captions}
    assert widths == {f"{answer_width(300)}px"} == {"256px"}
    assert answer_width(120) == 120


def test_render_mask_tints_the_mask_only():
    image = np.full((20, 30, 3), 100, dtype=np.uint8)
    mask = np.zeros((20, 30), dtype=bool)
    mask[2:6, 3:9] = True
    out = render_mask(image, mask, np.zeros((0, 2)), np.zeros(0), alpha=0.5)
    assert np.array_equal(out[~mask], image[~mask])
    assert np.array_equal(out[mask][0], np.round(0.5 * 100 + 0.5 * MASK_COLOR).astype(np.uint8))
    marked = render_mask(image, None, np.array([[10.0, 15.0]]), np.array([0]))
    assert tuple(marked[15, 10]) == (230, 0, 0)


def test_bad_clicks_and_images(sam):
    demo = SamClickDemo(SamPredictor(sam), torch.rand(3, 40, 50))
    with pytest.raises(ValueError, match="outside"):
        demo.click(50, 10)
    with pytest.raises(ValueError, match="uint8"):
        SamClickDemo(SamPredictor(sam), np.zeros((40, 50, 3), dtype=np.float32))
