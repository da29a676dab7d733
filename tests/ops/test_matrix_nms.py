"""Matrix NMS (SOLOv2's decay formula) against its formula written out with explicit loops, and hand
cases: two identical masks, disjoint masks, a chain of three, classes kept apart.

No installable package runs SOLOv2's Matrix NMS here (mmdetection needs mmcv's compiled ops), so
the reference is the paper's formula, computed independently below: for each mask j (best
first), the minimum over the better masks i of the same class of f(iou_ij) / f(iou_.i), where
iou_.i is i's largest IoU with a mask better than it.
"""

from __future__ import annotations

import math

import pytest
import torch

from segedu.ops import matrix_nms, pairwise_mask_iou


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of two binary masks, by counting pixels."""
    inter = int((a.bool() & b.bool()).sum())
    union = int((a.bool() | b.bool()).sum())
    return inter / union if union else 0.0


def _f(iou: float, kernel: str, sigma: float) -> float:
    return 1 - iou if kernel == "linear" else math.exp(-sigma * iou * iou)


def matrix_nms_by_loops(masks, scores, labels, kernel, sigma):
    """The paper's decay formula with loops (labels None: one class). A better mask i with
    f(iou_.i) = 0 (it equals an even better one, linear decay) suppresses nothing."""
    n = len(scores)
    labels = [0] * n if labels is None else labels.tolist()
    order = sorted(range(n), key=lambda k: (-float(scores[k]), k))  # best first, stable
    out = [0.0] * n
    for rank_j, j in enumerate(order):
        decay = 1.0
        for rank_i in range(rank_j):
            i = order[rank_i]
            if labels[i] != labels[j]:
                continue
            # iou_.i: i's largest IoU with a better mask of its class (0 if none)
            compensate = max([_iou(masks[order[k]], masks[i]) for k in range(rank_i)
                              if labels[order[k]] == labels[i]], default=0.0)
            denominator = _f(compensate, kernel, sigma)
            if denominator == 0:
                continue
            decay = min(decay, _f(_iou(masks[i], masks[j]), kernel, sigma) / denominator)
        out[j] = float(scores[j]) * decay
    return torch.tensor(out, dtype=torch.float64)


def _random_masks(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random rectangles, so that many pairs overlap by various amounts."""
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for k in range(n):
        y, x = torch.randint(0, size - 3, (2,), generator=generator).tolist()
        h, w = torch.randint(2, size // 2, (2,), generator=generator).tolist()
        masks[k, y:y + h, x:x + w] = True
    return masks


@pytest.mark.parametrize("kernel, sigma", [("linear", 2.0), ("gaussian", 2.0), ("gaussian", 0.5)])
@pytest.mark.parametrize("seed", range(4))
def test_matrix_nms_equals_the_formula_by_loops(kernel, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    masks = _random_masks(9, 12, g)
    scores = torch.rand(9, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (9,), generator=g) if seed % 2 else None
    got = matrix_nms(masks, scores, labels, kernel=kernel, sigma=sigma)
    expected = matrix_nms_by_loops(masks, scores, labels, kernel, sigma)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert (got <= scores).all()


def test_two_identical_masks():
    masks = torch.zeros(2, 5, 5, dtype=torch.bool)
    masks[:, 1:4, 1:4] = True
    scores = torch.tensor([0.6, 0.9], dtype=torch.float64)  # the second is the better
    # linear: f(1) = 1 - 1 = 0 removes the worse copy; the better keeps its score
    assert matrix_nms(masks, scores, kernel="linear").tolist() == [0.0, 0.9]
    # Gaussian: the worse copy keeps exp(-sigma * 1^2) of its score
    torch.testing.assert_close(matrix_nms(masks, scores, kernel="gaussian", sigma=2.0),
                               torch.tensor([0.6 * math.exp(-2.0), 0.9], dtype=torch.float64))


def test_three_identical_masks_give_zero_not_nan_with_the_linear_decay():
    """The second copy's f(iou_.i) is 0; mmdetection divides 0 / 0 for the third (NaN)."""
    masks = torch.ones(3, 4, 4, dtype=torch.bool)
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert matrix_nms(masks, scores, kernel="linear").tolist() == pytest.approx([0.9, 0.0, 0.0])
    gauss = matrix_nms(masks, scores, kernel="gaussian", sigma=2.0)
    # third: min(f(1) / f(0), f(1) / f(1)) = min(e^-2, 1) = e^-2
    assert gauss.tolist() == pytest.approx([0.9, 0.8 * math.exp(-2), 0.7 * math.exp(-2)])


def test_disjoint_masks_keep_their_scores():
    masks = torch.zeros(3, 6, 6, dtype=torch.bool)
    masks[0, :2, :2] = masks[1, 3:, 3:] = masks[2, :2, 4:] = True
    scores = torch.tensor([0.3, 0.7, 0.5])
    for kernel in ("linear", "gaussian"):
        assert torch.equal(matrix_nms(masks, scores, kernel=kernel), scores)


def test_a_chain_of_three_the_middle_one_decayed_lets_the_last_one_live():
    """A overlaps B (IoU 1/3), B overlaps C (IoU 1/7), A and C are disjoint; s_A > s_B > s_C.
    B decays by f(1/3). C's decay by B is compensated by B's own decay:
    f(1/7) / f(1/3) > 1, so C keeps its score (greedy NMS at a threshold below 1/7 would
    remove C only if B were kept)."""
    masks = torch.zeros(3, 1, 10, dtype=torch.bool)
    masks[0, 0, 0:4] = True  # A
    masks[1, 0, 2:6] = True  # B: A & B = 2 pixels, A | B = 6
    masks[2, 0, 5:9] = True  # C: B & C = 1 pixel, B | C = 7
    iou = pairwise_mask_iou(masks)
    torch.testing.assert_close(iou, torch.tensor([[1, 1 / 3, 0], [1 / 3, 1, 1 / 7],
                                                  [0, 1 / 7, 1]]))
    scores = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)
    linear = matrix_nms(masks, scores, kernel="linear")
    assert linear.tolist() == pytest.approx([0.9, 0.8 * (1 - 1 / 3), 0.7])  # (6/7)/(2/3) > 1
    gauss = matrix_nms(masks, scores, kernel="gaussian", sigma=2.0)
    assert gauss.tolist() == pytest.approx([0.9, 0.8 * math.exp(-2 / 9), 0.7])
    # with C overlapping B more than B overlaps A, C is decayed, by the compensated ratio
    masks[2] = False
    masks[2, 0, 4:7] = True  # B & C = 2 pixels, B | C = 5: IoU 2/5; A & C = 0
    linear = matrix_nms(masks, scores, kernel="linear")
    assert linear.tolist() == pytest.approx([0.9, 0.8 * (2 / 3), 0.7 * (3 / 5) / (2 / 3)])
    gauss = matrix_nms(masks, scores, kernel="gaussian", sigma=2.0)
    assert gauss[2].item() == pytest.approx(0.7 * math.exp(-2 * 4 / 25) / math.exp(-2 / 9))


def test_masks_of_other_classes_do_not_decay_each_other():
    masks = torch.ones(2, 3, 3, dtype=torch.bool)
    scores = torch.tensor([0.9, 0.8])
    assert torch.equal(matrix_nms(masks, scores, torch.tensor([1, 2]), kernel="linear"), scores)
    same = matrix_nms(masks, scores, torch.tensor([1, 1]), kernel="linear")
    assert same.tolist() == pytest.approx([0.9, 0.0])


def test_ties_the_lower_index_is_better_and_empty_input():
    masks = torch.ones(2, 2, 2, dtype=torch.bool)
    assert matrix_nms(masks, torch.tensor([0.5, 0.5]), kernel="linear").tolist() == [0.5, 0.0]
    empty = matrix_nms(torch.zeros(0, 4, 4, dtype=torch.bool), torch.zeros(0))
    assert empty.shape == (0,)


def test_bad_input_is_a_clear_error():
    masks = torch.ones(2, 3, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="binary"):
        matrix_nms(torch.full((2, 3, 3), 0.7), torch.ones(2))
    with pytest.raises(ValueError, match="scores must be a \\(2,\\) tensor"):
        matrix_nms(masks, torch.ones(3))
    with pytest.raises(ValueError, match="kernel must be one of"):
        matrix_nms(masks, torch.ones(2), kernel="box")
    with pytest.raises(ValueError, match="labels must be None or a \\(2,\\) tensor"):
        matrix_nms(masks, torch.ones(2), torch.ones(3))
    with pytest.raises(ValueError, match="masks must be a \\(N, H, W\\) tensor"):
        matrix_nms(masks[0], torch.ones(3))
