"""EoMT's mask annealing against the authors' schedule, and the model's use of it.

The reference is ``mask_annealing`` of tue-mps/eomt's ``training/lightning_module.py``,
transcribed below (``poly_power`` 0.9); their COCO panoptic configuration for EoMT-L
(``configs/dinov2/coco/panoptic/eomt_large_640.yaml``: 12 epochs of 7391 steps, 88692 in all)
releases the four masked blocks over ``attn_mask_annealing_start_steps: [14782, 29564, 44346,
59128]`` and ``attn_mask_annealing_end_steps: [29564, 44346, 59128, 73910]``.
"""

from __future__ import annotations

import pytest
import torch

from segedu.models import get_model
from segedu.models.universal.eomt import (
    annealed_probabilities,
    mask_probability,
    query_attention_mask,
    staggered_windows,
)

COCO_STARTS = [14782, 29564, 44346, 59128]
COCO_ENDS = [29564, 44346, 59128, 73910]
COCO_STEPS = 12 * 7391


def authors_mask_annealing(start_iter, current_iter, final_iter, poly_power=0.9):
    """tue-mps/eomt ``LightningModule.mask_annealing``, transcribed (device and dtype aside)."""
    if current_iter < start_iter:
        return torch.ones(1)
    elif current_iter >= final_iter:
        return torch.zeros(1)
    else:
        progress = (current_iter - start_iter) / (final_iter - start_iter)
        progress = torch.tensor(progress)
        return (1.0 - progress).pow(poly_power)


@pytest.mark.parametrize("step", [0, 14781, 14782, 15000, 22173, 29563, 29564, 50000, 73909,
                                  73910, 88691])
def test_mask_probability_is_the_authors_schedule(step):
    for start, end in zip(COCO_STARTS, COCO_ENDS, strict=True):
        expected = float(authors_mask_annealing(start, step, end))
        assert mask_probability(step, start=start, end=end) == pytest.approx(expected, abs=1e-6)


def test_staggered_windows_are_the_authors_coco_windows():
    starts, ends = staggered_windows(4)
    assert [round(s * COCO_STEPS) for s in starts] == COCO_STARTS
    assert [round(e * COCO_STEPS) for e in ends] == COCO_ENDS
    # as fractions of training, every block is released in turn, the first one first
    probs = annealed_probabilities(0.4, starts=starts, ends=ends)
    assert probs[0] == 0.0 and 0 < probs[1] < 1 and probs[2] == probs[3] == 1.0
    with pytest.raises(ValueError, match="start < end"):
        mask_probability(0.5, start=0.5, end=0.5)
    with pytest.raises(ValueError, match="one entry per block"):
        annealed_probabilities(0.5, starts=[0.1], ends=[0.2, 0.3])


def test_model_anneals_its_blocks_and_skips_released_ones_in_evaluation():
    model = get_model("eomt", num_classes=3, image_size=32, dim=24, depth=3, num_heads=2,
                      num_queries=4, num_blocks=2).eval()
    images = torch.rand(1, 3, 32, 32)
    assert model.attn_mask_probs.tolist() == [1.0, 1.0]  # masked before training
    with torch.no_grad():
        assert len(model(images)["aux_outputs"]) == 2
    # the default windows for 2 blocks: [1/4, 2/4) and [2/4, 3/4)
    assert model.anneal(0.375) == pytest.approx([0.5 ** 0.9, 1.0])
    assert model.anneal(1.0) == [0.0, 0.0]
    assert model.attn_mask_probs.tolist() == [0.0, 0.0]
    with torch.no_grad():  # annealed: inference makes no intermediate prediction
        assert model(images)["aux_outputs"] == []
    model.train()  # training still supervises every block's prediction
    assert len(model(images)["aux_outputs"]) == 2
    # the probability is part of the checkpoint (a trained model runs unmasked)
    assert "attn_mask_probs" in model.state_dict()


def test_attention_mask_layout_and_random_release():
    """Queries read only their mask's patches; everything else is free; with p = 0 every query
    is released, with p = 1 none, in between each draw decides."""
    logits = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]], [[-2.0, -2.0], [-2.0, -2.0]]]])
    mask = query_attention_mask(logits, grid_size=(2, 2), num_prefix_tokens=1)
    assert mask.shape == (1, 1, 7, 7) and mask.dtype == torch.bool
    # query 0 reads patches 0 and 3 (its positive logits), query 1 none; both read queries and
    # the class token; the class token and the patches read everything
    assert mask[0, 0, 0].tolist() == [True, True, True, True, False, False, True]
    assert mask[0, 0, 1].tolist() == [True, True, True, False, False, False, False]
    assert mask[0, 0, 2:].all()
    released = query_attention_mask(logits, grid_size=(2, 2), num_prefix_tokens=1,
                                    probability=0.0)
    assert released.all()
    generator = torch.Generator().manual_seed(0)
    draws = torch.rand(1, 2, generator=torch.Generator().manual_seed(0))
    half = query_attention_mask(logits, grid_size=(2, 2), num_prefix_tokens=1,
                                probability=0.5, generator=generator)
    for q in range(2):
        expected = mask[0, 0, q] | (draws[0, q] > 0.5)
        assert torch.equal(half[0, 0, q], expected)
    with pytest.raises(ValueError, match=r"\(B, Q, H, W\)"):
        query_attention_mask(logits[0], grid_size=(2, 2), num_prefix_tokens=1)
