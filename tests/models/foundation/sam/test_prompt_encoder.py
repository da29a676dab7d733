"""The prompt encoder against segment-anything's ``PromptEncoder`` (same random weights): points
with and without the padding point, boxes, points and boxes, masks, no prompt.

Tolerance ``atol=1e-6``: the same float32 operations (the label embeddings are added with
``torch.where`` where the reference indexes in place; same sums).
"""

import pytest
import torch

from ._pairs import prompt_encoders


@pytest.fixture(scope="module")
def pair():
    return prompt_encoders(seed=5)


def _compare(pair, points, boxes, masks):
    reference, ours = pair
    with torch.no_grad():
        sparse, dense = ours(points=points, boxes=boxes, masks=masks)
        sparse_ref, dense_ref = reference(points=points, boxes=boxes, masks=masks)
    assert sparse.shape == sparse_ref.shape and dense.shape == dense_ref.shape
    torch.testing.assert_close(sparse, sparse_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(dense, dense_ref, rtol=0, atol=1e-6)
    return sparse, dense


def _points(b=2, n=3):
    coords = torch.rand(b, n, 2) * 128
    labels = torch.randint(0, 2, (b, n), dtype=torch.int)
    labels[0, 0], labels[-1, -1] = 0, 1
    return coords, labels


def test_points_get_a_padding_point_without_box(pair):
    torch.manual_seed(0)
    sparse, dense = _compare(pair, _points(), None, None)
    assert sparse.shape == (2, 4, 32)  # 3 points + the padding point
    # the padding token is the "not a point" embedding alone (no position)
    torch.testing.assert_close(sparse[:, -1], pair[1].not_a_point_embed.weight.expand(2, -1))
    assert dense.shape == (2, 32, 8, 8)


def test_user_padding_labels(pair):
    """Label -1 given by the caller (points of unequal numbers padded to a batch)."""
    torch.manual_seed(1)
    coords, labels = _points(3, 4)
    labels[1, 2:] = -1
    _compare(pair, (coords, labels), None, None)


def test_boxes(pair):
    torch.manual_seed(2)
    boxes = torch.sort(torch.rand(3, 2, 2) * 128, dim=1).values.transpose(1, 2).reshape(3, 4)
    sparse, _ = _compare(pair, None, boxes, None)
    assert sparse.shape == (3, 2, 32)  # two corners, no padding point


def test_points_and_boxes_have_no_padding_point(pair):
    torch.manual_seed(3)
    coords, labels = _points(2, 2)
    boxes = torch.tensor([[10.0, 20.0, 60.0, 90.0], [0.0, 0.0, 127.0, 127.0]])
    sparse, _ = _compare(pair, (coords, labels), boxes, None)
    assert sparse.shape == (2, 4, 32)


def test_masks(pair):
    torch.manual_seed(4)
    masks = torch.randn(2, 1, 32, 32)
    sparse, dense = _compare(pair, None, None, masks)
    assert sparse.shape == (2, 0, 32) and dense.shape == (2, 32, 8, 8)
    _compare(pair, _points(2, 1), torch.tensor([[1.0, 2.0, 50.0, 60.0]] * 2), masks)


def test_no_prompt_gives_no_mask_embedding(pair):
    sparse, dense = _compare(pair, None, None, None)
    assert sparse.shape == (1, 0, 32)
    torch.testing.assert_close(dense[0, :, 3, 4], pair[1].no_mask_embed.weight[0])


def test_dense_positional_encoding(pair):
    reference, ours = pair
    torch.testing.assert_close(ours.get_dense_pe(), reference.get_dense_pe(), rtol=0, atol=1e-6)
    assert ours.get_dense_pe().shape == (1, 32, 8, 8)


def test_labels_matter(pair):
    """A test that can fail: foreground and background points are embedded differently."""
    coords = torch.rand(1, 2, 2) * 128
    fg, _ = pair[1](points=(coords, torch.ones(1, 2, dtype=torch.int)), boxes=None, masks=None)
    bg, _ = pair[1](points=(coords, torch.zeros(1, 2, dtype=torch.int)), boxes=None, masks=None)
    assert not torch.allclose(fg[:, :2], bg[:, :2])


def test_points_without_labels_is_an_error(pair):
    coords, labels = _points(2, 3)
    with pytest.raises(ValueError, match="point labels"):
        pair[1](points=(coords, None), boxes=None, masks=None)
    with pytest.raises(ValueError, match="point labels"):
        pair[1](points=(coords, labels[:, :2]), boxes=None, masks=None)
