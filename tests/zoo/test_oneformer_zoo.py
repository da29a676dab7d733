"""The zoo's OneFormer recipe: each task's targets from one panoptic map, a task drawn per image
(the same draws for a resumed run), the text mapper in training only, and a short run that
writes a checkpoint of the inference network and its card."""

from __future__ import annotations

import pytest
import torch

from segedu.models import get_model
from segedu.zoo import ZOO, Task, ZooEntry, oneformer, set_prediction
from segedu.zoo.panoptic import Mask2FormerConfig
from segedu.zoo.train import recipe_for

# a small OneFormer: Swin of width 8, one layer a stage, one decoder layer; the query width stays
# 64, the training text mapper's (its text encoder has width / 64 heads)
TINY = dict(num_queries=6, text_mapper=None, conv_dim=32, hidden_dim=64, num_heads=2,
            encoder_layers=1, encoder_ffn_dim=32, decoder_layers=1, decoder_ffn_dim=32,
            backbone=dict(embed_dim=8, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1),
                          window_size=4))
ENTRY = ZooEntry("oneformer", TINY, lr=1e-3, steps=2, task=Task.SET_PREDICTION, batch=2)


def config(tmp_path, **settings):
    return Mask2FormerConfig("oneformer", entry=ENTRY, scenes=8, test_scenes=2, num_points=64,
                             warmup=1, out=tmp_path, device="cpu", **settings)


def hand_made_scene() -> torch.Tensor:
    """A 4 x 4 panoptic map: sky (0) on top, grass (1) below, two circles (3, instances 1 and
    2), a triangle (5, instance 3) and one void pixel (-1)."""
    category = torch.tensor([[0, 0, 0, 0],
                             [3, 3, 0, 5],
                             [1, 1, 3, 5],
                             [1, 1, 1, -1]])
    instance = torch.tensor([[0, 0, 0, 0],
                             [1, 1, 0, 3],
                             [0, 0, 2, 3],
                             [0, 0, 0, 0]])
    return torch.stack([category, instance], dim=-1)


def test_each_task_has_its_own_segments():
    scene = hand_made_scene()
    category, instance = scene[..., 0], scene[..., 1]
    sky, grass = category == 0, category == 1
    circle_1, circle_2 = instance == 1, instance == 2
    triangle = instance == 3
    expected = {
        # every stuff class and every thing, stuff (instance 0) first, then the things
        "panoptic": ([0, 1, 3, 3, 5], [sky, grass, circle_1, circle_2, triangle]),
        # one segment per class: the two circles are one
        "semantic": ([0, 1, 3, 5], [sky, grass, circle_1 | circle_2, triangle]),
        # the things only
        "instance": ([3, 3, 5], [circle_1, circle_2, triangle]),
    }
    for task, (labels, masks) in expected.items():
        targets = oneformer.task_targets(scene, task)
        assert targets["labels"].tolist() == labels, task
        assert torch.equal(targets["masks"], torch.stack(masks)), task
        assert not targets["masks"][:, 3, 3].any()  # the void pixel is in no segment
    # the panoptic task's targets are Mask2Former's
    model = get_model("oneformer", **TINY)
    for key, value in model.targets(scene).items():
        assert torch.equal(oneformer.task_targets(scene, "panoptic")[key], value)
    with pytest.raises(ValueError, match="task must be one of"):
        oneformer.task_targets(scene, "depth")


def test_tasks_are_drawn_per_image_and_the_text_lists_name_their_segments():
    model = get_model("oneformer", **{**TINY, "text_mapper": oneformer.TEXT_MAPPER})
    scene = hand_made_scene()
    loader = [(torch.zeros(4, 3, 4, 4), [scene] * 4)] * 3  # three batches of four images
    first = list(zip(range(3), oneformer.task_batches(model, loader, seed=5), strict=False))
    again = list(zip(range(3), oneformer.task_batches(model, loader, seed=5), strict=False))
    tasks = [t for _, (_, _, batch_tasks, _) in first for t in batch_tasks]
    assert tasks == [t for _, (_, _, batch_tasks, _) in again for t in batch_tasks]
    assert set(tasks) == {"semantic", "instance", "panoptic"}  # 12 draws, every task among them
    _, (images, targets, batch_tasks, text_ids) = first[0]
    assert text_ids.shape == (4, model.num_texts, oneformer.TEXT_MAPPER["context_length"])
    for target, task, ids in zip(targets, batch_tasks, text_ids, strict=True):
        assert target["labels"].tolist() == oneformer.task_targets(scene, task)["labels"].tolist()
        expected = model.text_ids([target["labels"].tolist()], class_names=(
            "sky", "grass", "water", "circle", "rectangle", "triangle"), tasks=[task])[0]
        assert torch.equal(ids, expected)


def test_a_short_run_writes_the_inference_network_and_its_card(tmp_path):
    model = set_prediction.RECIPE.train(config(tmp_path))
    assert model.text_mapper is None  # training only
    stored = torch.load(tmp_path / "oneformer_scenes.pt", weights_only=True)
    assert not any(key.startswith("text_mapper.") for key in stored)
    # the checkpoint loads, strictly, into the model built as the entry says
    get_model("oneformer", **TINY).load_state_dict({k: v.float() for k, v in stored.items()})
    card = (tmp_path / "oneformer_scenes.md").read_text()
    assert "2 steps" in card and "| pq |" in card and "| miou_semantic |" in card
    assert "| mask_map_50 |" in card
    assert "a task drawn uniformly per image" in card and "contrastive loss" in card
    assert not (tmp_path / "oneformer_resume.pt").exists()


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    def train(out, fail_at=None):
        torch.manual_seed(0)
        model = get_model("oneformer", **TINY)
        if fail_at is not None:  # the forward pass of step `fail_at` stops the run
            calls, forward = [0], model.forward

            def stopping(images, **kwargs):
                calls[0] += 1
                if calls[0] > fail_at:
                    raise KeyboardInterrupt
                return forward(images, **kwargs)

            monkeypatch.setattr(model, "forward", stopping)
        oneformer.train_oneformer(model, config(out, steps=3, save_every=1), torch.device("cpu"),
                                  log=lambda _: None)
        return model

    whole = train(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "split", fail_at=2)
    resumed = train(tmp_path / "split")
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)


def test_the_zoo_entry_is_a_set_prediction_model_beside_mask2former():
    entry = ZOO["oneformer"]
    assert entry.task is Task.SET_PREDICTION and recipe_for("oneformer") is set_prediction.RECIPE
    assert (entry.steps, entry.batch, entry.lr) == (ZOO["mask2former"].steps,
                                                   ZOO["mask2former"].batch,
                                                   ZOO["mask2former"].lr)
    model = get_model("oneformer", **entry.kwargs)
    assert model.text_mapper is None and model.num_queries == 16
    # the Swin's stages have the widths of Mask2Former's ResNet-18 at width 16
    assert model.backbone.stage_channels == get_model(
        "mask2former", **ZOO["mask2former"].kwargs).backbone.stage_channels
    assert 1_000_000 < sum(p.numel() for p in model.parameters()) < 2_000_000
