"""The two-way transformer and the mask decoder against segment-anything's (same random weights).

Tolerance ``atol=1e-5``: the same float32 operations in the same order; the margin is for the BLAS
picking another summation order (e.g. for a different batch size), not for a different formula.
"""

import pytest
import torch

from ._pairs import mask_decoders


@pytest.fixture(scope="module")
def pair():
    return mask_decoders(seed=7)


def test_two_way_transformer_matches_reference(pair):
    reference, ours = pair
    torch.manual_seed(0)
    image, pe, tokens = torch.randn(3, 32, 8, 8), torch.randn(3, 32, 8, 8), torch.randn(3, 7, 32)
    with torch.no_grad():
        q, k = ours.transformer(image, pe, tokens)
        q_ref, k_ref = reference.transformer(image, pe, tokens)
    assert q.shape == (3, 7, 32) and k.shape == (3, 64, 32)
    torch.testing.assert_close(q, q_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(k, k_ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("n_tokens", [0, 2, 5])
def test_mask_decoder_matches_reference(pair, multimask, n_tokens):
    reference, ours = pair
    torch.manual_seed(n_tokens)
    image, pe = torch.randn(1, 32, 8, 8), torch.randn(1, 32, 8, 8)
    sparse, dense = torch.randn(4, n_tokens, 32), torch.randn(4, 32, 8, 8)
    with torch.no_grad():
        masks, iou = ours(image, pe, sparse, dense, multimask_output=multimask)
        masks_ref, iou_ref = reference(image, pe, sparse, dense, multimask_output=multimask)
    m = 3 if multimask else 1
    assert masks.shape == (4, m, 32, 32) and iou.shape == (4, m)
    torch.testing.assert_close(masks, masks_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(iou, iou_ref, rtol=0, atol=1e-5)


def test_single_mask_is_token_zero(pair):
    """multimask False returns mask token 0, True tokens 1..3 of the same prediction."""
    _, ours = pair
    torch.manual_seed(1)
    args = (
        torch.randn(1, 32, 8, 8),
        torch.randn(1, 32, 8, 8),
        torch.randn(2, 3, 32),
        torch.randn(2, 32, 8, 8),
    )
    with torch.no_grad():
        all_masks, all_iou = ours.predict_masks(*args)
        single, _ = ours(*args, multimask_output=False)
        multi, multi_iou = ours(*args, multimask_output=True)
    assert torch.equal(single, all_masks[:, :1]) and torch.equal(multi, all_masks[:, 1:])
    assert torch.equal(multi_iou, all_iou[:, 1:])
    assert not torch.allclose(all_masks[:, 0], all_masks[:, 1])
