"""The set-prediction recipe with EoMT: the model's mask annealing follows training, the card
says so, and a stopped run continues from its resume file to the same weights as a run that
never stopped."""

from __future__ import annotations

import pytest
import torch

from segedu.models import get_model
from segedu.zoo import Task, ZooEntry, panoptic

# a small EoMT on the 128 px scenes: 16-pixel patches (an 8 x 8 grid), width 24, 3 blocks
TINY = dict(patch_size=16, dim=24, depth=3, num_heads=2, num_queries=6, num_blocks=2)
ENTRY = ZooEntry("eomt", TINY, lr=1e-3, steps=4, task=Task.SET_PREDICTION, batch=2)


def config(tmp_path, **settings):
    return panoptic.Mask2FormerConfig("eomt", entry=ENTRY, scenes=8, test_scenes=2,
                                      num_points=64, warmup=1, out=tmp_path, device="cpu",
                                      **settings)


def test_eomt_recipe_anneals_the_masks_and_writes_its_card(tmp_path):
    model = panoptic.train_set_prediction(config(tmp_path))
    # 4 steps: the windows [1/4, 2/4) and [2/4, 3/4) are over, the masks are gone
    assert model.attn_mask_probs.tolist() == [0.0, 0.0]
    card = (tmp_path / "eomt_scenes.md").read_text()
    assert "4 steps" in card and "| pq |" in card
    assert "mask annealing of the 2 masked blocks" in card and "0.25-0.50, 0.50-0.75" in card
    assert not (tmp_path / "eomt_resume.pt").exists()  # removed at the end of the run


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    def train(out, fail_at=None):
        torch.manual_seed(0)
        model = get_model("eomt", **TINY)
        if fail_at is not None:  # the forward pass of step `fail_at` stops the run
            calls, forward = [0], model.forward

            def stopping(images):
                calls[0] += 1
                if calls[0] > fail_at:
                    raise KeyboardInterrupt
                return forward(images)

            monkeypatch.setattr(model, "forward", stopping)
        panoptic.train_mask2former(model, config(out, steps=3, save_every=1), torch.device("cpu"),
                                   log=lambda _: None)
        return model

    whole = train(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "split", fail_at=2)
    state = torch.load(tmp_path / "split" / "eomt_resume.pt", weights_only=True)
    assert state["step"] == 2
    resumed = train(tmp_path / "split")
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
    assert resumed.attn_mask_probs.tolist() == [0.0, 0.0]
