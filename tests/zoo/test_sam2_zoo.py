"""Tests of the zoo's SAM 2 recipe (segedu.zoo.sam2): the tracking loss, the training loop, the
evaluation, the recipe's checkpoint and card, and the shipped checkpoint against its card."""

from __future__ import annotations

import re

import pytest
import torch

import segedu.models.foundation.sam2  # noqa: F401  (registers sam2_slim)
import segedu.zoo.recipe
from segedu.data import SyntheticVideos
from segedu.models import get_model
from segedu.zoo import ZOO
from segedu.zoo import sam2 as zv
from tests.test_zoo import FULL_RESCORE, assert_check_scores_hold

torch.set_num_threads(1)


def _one_clip(frames: int = 3):
    """A held-out clip (seed 1, index 0) and the masks of its first thing visible on frame 0."""
    video, target = SyntheticVideos(size=zv.SIZE, frames=frames, length=1, seed=1)[0]
    masks = target["masks"].as_subclass(torch.Tensor)
    visible = [n for n in range(masks.shape[1]) if masks[0, n].sum() >= 16]
    return video.as_subclass(torch.Tensor), masks[:, visible[0]]


def _loss(model, video, truth, points, labels):
    frames = model.encode_image((video - model.pixel_mean) / model.pixel_std)
    return zv.tracks_loss(model, frames, truth[None], [points], [labels])


def test_tracks_loss_is_finite_and_a_few_steps_lower_it():
    torch.manual_seed(0)
    model = get_model("sam2_slim").train()
    video, truth = _one_clip()
    ys, xs = torch.nonzero(truth[0], as_tuple=True)
    points = torch.tensor([[[float(xs[0]), float(ys[0])]]])
    labels = torch.ones(1, 1, dtype=torch.int64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        parts = _loss(model, video, truth, points, labels)
        total = parts["mask"] + parts["iou"] + parts["score"]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(float(total.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.7 * losses[0], losses
    # the memory is trained too: its parameters received gradients through the later frames
    assert model.memory_attention.layers[0].cross_attn_image.k_proj.weight.grad.abs().sum() > 0


def test_a_box_and_a_click_are_tracked_in_one_batch():
    """Tracks with a click (3 masks) and with a box (two corner points, 1 mask) share a step; an
    object gone from a frame gets no mask loss there, only the object-score loss."""
    torch.manual_seed(0)
    model = get_model("sam2_slim").train()
    video, truth = _one_clip()
    truth = truth.clone()
    truth[2] = False  # the object leaves on the last frame
    frames = model.encode_image((video - model.pixel_mean) / model.pixel_std)
    frames = frames.select([0, 1, 2, 0, 1, 2])  # two tracks of the same clip
    click = (torch.tensor([[[60.0, 60.0]]]), torch.ones(1, 1, dtype=torch.int64))
    box = segedu.models.foundation.sam2.box_to_points(torch.tensor([[40.0, 40.0, 80.0, 80.0]]))
    parts = zv.tracks_loss(model, frames, torch.stack([truth, truth]), [click[0], box[0]],
                           [click[1], box[1]])
    assert set(parts) == {"mask", "iou", "score"}
    assert all(torch.isfinite(v) and v >= 0 for v in parts.values())


def test_train_sam2_resumes_exactly_after_an_interruption(tmp_path, interrupt_training):
    """A run of 4 steps, and the same run stopped after step 2 (its resume file written) and
    started again in a fresh state: the same weights to the bit (the data of a step come from
    the step's own stream, the dropout masks from the random state kept in the file)."""
    def fresh(out):
        torch.manual_seed(0)
        config = zv.Sam2Config("sam2_slim", steps=4, batch=1, clips=3, frames=2, out=out,
                                save_every=2)
        return get_model("sam2_slim"), config

    whole, config = fresh(tmp_path / "whole")
    run = zv.train_sam2(whole, config, torch.device("cpu"), log=None)
    assert set(run) >= {"steps", "warmup", "minutes", "loss", "mask", "iou", "score"}
    assert not config.resume_path.exists()  # removed at the end of a run

    model, config = fresh(tmp_path / "split")
    # steps count from 0: stopped after two
    interruption = interrupt_training(segedu.zoo.recipe, after=1)
    with pytest.raises(KeyboardInterrupt):
        zv.train_sam2(model, config, torch.device("cpu"), log=None)
    assert config.resume_path.exists()
    interruption.undo()
    model, config = fresh(tmp_path / "split")
    torch.manual_seed(123)  # another process's random state: the resume file restores it
    zv.train_sam2(model, config, torch.device("cpu"), log=None)
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(),
                                                 model.state_dict().values(), strict=True))
    for bad in (dict(steps=0), dict(clips=0), dict(frames=0), dict(objects=0)):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be a positive integer"):
            zv.Sam2Config("sam2_slim", **bad)


def test_evaluate_is_deterministic_and_checks_length():
    torch.manual_seed(0)
    model = get_model("sam2_slim")
    a, b = zv.evaluate(model, length=1, frames=3), zv.evaluate(model, length=1, frames=3)
    assert a == b and set(a) == set(zv.METRIC_NAMES)
    assert all(0 <= v <= 1 for v in a.values())
    with pytest.raises(ValueError, match="length"):
        zv.evaluate(model, length=0)


def test_first_frame_ious_ranked_is_at_most_the_oracle():
    torch.manual_seed(0)
    score = zv.first_frame_ious(get_model("sam2_slim"), length=1)
    assert set(score) == {"ranked", "oracle", "objects"} and score["objects"] >= 1
    assert 0 <= score["ranked"] <= score["oracle"] <= 1


def _card_value(card: str, metric: str) -> float:
    return float(re.search(rf"\| {metric} \([^)]*\) \| ([0-9.]+) \|", card).group(1))


def test_recipe_writes_a_checkpoint_and_a_card_that_rescores(tmp_path):
    config = zv.Sam2Config("sam2_slim", steps=1, batch=1, clips=2, frames=2, test_clips=1,
                            out=tmp_path, device="cpu")
    zv.train(config)
    card = (tmp_path / "sam2_slim_videos.md").read_text()
    assert "793,058 parameters" in card and "1 steps" in card
    assert "python -m segedu.zoo.train sam2_slim" in card
    state = torch.load(tmp_path / "sam2_slim_videos.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    model = get_model("sam2_slim")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    for key, value in zv.evaluate(model, length=1).items():
        assert _card_value(card, key) == pytest.approx(value, abs=0.005), key


# How far the propagated scores move with the CPU's floating-point kernels (measured on
# 2026-11-25, 50 held-out clips, the shipped checkpoint): jf 0.182 / j 0.154 / f 0.210 on the
# AVX-512 Xeon that wrote the card, 0.1753 / 0.1477 / 0.2028 on an AVX2-only AMD EPYC, and
# 0.1764 / 0.1485 / 0.2043 on that EPYC with ATen's default (non-SIMD) kernels. The clicked frame
# (j_frame0) and the masks held still (jf_static) came out the same to 4 decimals on all three:
# the differences start in the memory: last-bit differences in its attention are carried from
# frame to frame and, in a model trained for 1200 steps, reach decisions taken near a threshold
# (which ones was not traced). Those three are pinned at twice the largest deviation measured
# (0.0072); the frame-0 ones at the card's rounding. The checkpoint shipped since 2026-11-26 is
# seed 2 of three (its card's section "Seeds"); its card was written at the end of training
# (float32 weights) on the EPYC: jf 0.119 / j 0.100 / f 0.138; the stored float16 weights give
# 0.1222 / 0.1019 / 0.1424 there, and 0.1233 / 0.1030 / 0.1436 with ATen's default kernels.
PROPAGATED_ATOL = 0.015


@pytest.mark.skipif(not ZOO["sam2_slim"].checkpoint.is_file(), reason="not trained yet")
def test_the_shipped_checkpoint_scores_what_its_card_says():
    entry = ZOO["sam2_slim"]
    assert entry.checkpoint.stat().st_size < 2 * 2**20
    if not FULL_RESCORE:  # the first 10 clips against the recorded check scores
        assert_check_scores_hold(
            "sam2_slim", tolerance={m: PROPAGATED_ATOL for m in ("jf", "j", "f")})
        return
    model = get_model("sam2_slim", weights="zoo").eval()
    card = entry.card.read_text()
    for metric, value in zv.evaluate(model).items():
        recorded = _card_value(card, metric)
        tolerance = PROPAGATED_ATOL if metric in ("jf", "j", "f") else 0.005
        assert abs(value - recorded) < tolerance, (
            f"the card says {metric} {recorded}, the checkpoint gives {value:.4f}")
