"""Tests of the zoo's SAM recipe (segedu.zoo.sam): targets, prompts, loss, training forward,
evaluation and the recipe, on tiny inputs."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchvision

import segedu.models.foundation.sam  # noqa: F401  (registers sam_tiny)
import segedu.zoo.recipe
from segedu.models import get_model
from segedu.ops import masks_to_boxes
from segedu.zoo import sam as zs

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return get_model("sam_tiny").eval()


def _target(semantic: torch.Tensor, masks: list[torch.Tensor]) -> dict:
    h, w = semantic.shape
    return {"semantic": semantic,
            "masks": torch.stack(masks) if masks else torch.zeros(0, h, w, dtype=torch.bool)}


def _hand_made_scene() -> dict:
    """16 x 16: sky rows 0..3, grass below, two water ponds (left 6 x 6 = 36 px, right 4 x 4 =
    16 px, below ``min_area`` 32), one rectangle thing on the grass (3 x 3 = 9 px)."""
    semantic = torch.full((16, 16), 1)
    semantic[:4] = 0
    semantic[8:14, 1:7] = 2
    semantic[10:14, 10:14] = 2
    thing = torch.zeros(16, 16, dtype=torch.bool)
    thing[5:8, 10:13] = True
    semantic[thing] = 4
    return _target(semantic, [thing])


# -- targets and prompts ---------------------------------------------------------------------


def test_scene_segments_split_stuff_into_connected_regions():
    target = _hand_made_scene()
    segments = zs.scene_segments(target)
    # sky, grass (one region around the ponds), the big pond, the thing; the 16 px pond is dropped
    assert segments.shape == (4, 16, 16)
    semantic = target["semantic"]
    assert torch.equal(segments[0], semantic == 0)
    assert torch.equal(segments[1], semantic == 1)
    big_pond = torch.zeros(16, 16, dtype=torch.bool)
    big_pond[8:14, 1:7] = True
    assert torch.equal(segments[2], big_pond)
    assert torch.equal(segments[3], target["masks"][0])
    # with a lower threshold the small pond becomes a segment of its own
    assert zs.scene_segments(target, min_area=16).shape[0] == 5


def test_scene_segments_on_a_real_scene_cover_the_image():
    from segedu.data import SyntheticScenes

    _, target = SyntheticScenes(size=128, length=1, seed=1)[0]
    segments = zs.scene_segments(target, min_area=1)
    # every pixel in exactly one segment
    assert torch.equal(segments.sum(0), torch.ones(128, 128, dtype=torch.long))


def test_sample_prompts_points_inside_boxes_near_the_mask():
    segments = zs.scene_segments(_hand_made_scene())
    rng = np.random.default_rng(0)
    for _ in range(50):
        drawn = zs.sample_prompts(segments, 3, rng)
        assert len(drawn["index"]) == 3 and len(set(drawn["index"].tolist())) == 3  # no repeats
        for i, point, box in zip(drawn["index"], drawn["points"], drawn["boxes"], strict=True):
            mask = segments[i]
            assert mask[int(point[1]), int(point[0])]
            ys, xs = torch.nonzero(mask, as_tuple=True)
            exact = torch.tensor([xs.min(), ys.min(), xs.max(), ys.max()]).float()
            assert (box - exact).abs().max() <= zs.BOX_NOISE_MAX + 1e-6
            assert box.min() >= 0 and box.max() <= 15
    # more prompts asked than segments: every segment once
    assert sorted(zs.sample_prompts(segments, 10, rng)["index"].tolist()) == [0, 1, 2, 3]
    # reproducible from the generator
    a, b = (zs.sample_prompts(segments, 4, np.random.default_rng(7)) for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_box_noise_has_std_ten_percent_of_the_side():
    mask = torch.zeros(1, 64, 64, dtype=torch.bool)
    mask[0, 20:30, 10:20] = True  # a 10 x 10 box: noise std 1 px, clipped at 2.5 px (2.5 sigma)
    rng = np.random.default_rng(0)
    noise = torch.stack([zs.sample_prompts(mask, 1, rng, p_point=0.0)["boxes"][0]
                         for _ in range(1500)])
    noise = noise - torch.tensor([10.0, 20.0, 19.0, 29.0])
    # std of N(0, 1) clipped at 2.5 is 0.98; 6000 samples: standard error about 0.01
    assert noise.std().item() == pytest.approx(0.98, abs=0.04)
    assert noise.mean().abs().item() < 0.05
    with pytest.raises(ValueError, match="segments"):
        zs.sample_prompts(torch.zeros(0, 8, 8, dtype=torch.bool), 2, rng)


def test_correction_points_fall_in_the_error_region():
    truth = torch.zeros(3, 8, 8, dtype=torch.bool)
    truth[:, 2:6, 2:6] = True
    predicted = truth.clone()
    predicted[0, 2:6, 2:4] = False  # false negatives only: a foreground click among them
    predicted[1, 0, :] = True  # false positives only: a background click among them
    rng = np.random.default_rng(0)
    for _ in range(20):
        points, labels = zs.correction_points(predicted, truth, rng)
        x0, y0 = points[0].long().tolist()
        assert labels[0] == 1 and 2 <= y0 < 6 and 2 <= x0 < 4
        x1, y1 = points[1].long().tolist()
        assert labels[1] == 0 and y1 == 0
        x2, y2 = points[2].long().tolist()  # perfect prediction: a foreground pixel of the truth
        assert labels[2] == 1 and truth[2, y2, x2]
    with pytest.raises(ValueError, match="same"):
        zs.correction_points(predicted[:2], truth, rng)


# -- loss --------------------------------------------------------------------------------------


def test_focal_loss_equals_torchvision():
    torch.manual_seed(0)
    logits = torch.randn(5, 4, 12, 12) * 6
    logits[0, 0, 0, :4] = torch.tensor([40.0, -40.0, 0.0, 1e-3])  # saturated and border values
    truth = torch.rand(5, 4, 12, 12) > 0.6
    ours = zs.focal_loss(logits, truth)
    reference = torchvision.ops.sigmoid_focal_loss(logits, truth.float(), alpha=0.25, gamma=2.0,
                                                   reduction="none").mean(dim=(-2, -1))
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-7)


def test_dice_loss_formula():
    torch.manual_seed(1)
    logits, truth = torch.randn(3, 10, 10), torch.rand(3, 10, 10) > 0.5
    p, t = 1 / (1 + np.exp(-logits.double().numpy())), truth.double().numpy()
    expected = 1 - (2 * (p * t).sum((1, 2)) + 1) / (p.sum((1, 2)) + t.sum((1, 2)) + 1)
    torch.testing.assert_close(zs.dice_loss(logits, truth).double(), torch.from_numpy(expected),
                               rtol=1e-6, atol=0)
    # a confident perfect prediction has (almost) no loss
    assert zs.dice_loss((truth.float() - 0.5) * 100, truth).max() < 1e-6


def test_mask_loss_min_over_multimask_and_iou_mse():
    torch.manual_seed(2)
    logits = torch.randn(3, 4, 16, 16, requires_grad=True)
    iou_pred = torch.rand(3, 4)
    truth = torch.rand(3, 16, 16) > 0.5
    multimask = torch.tensor([True, False, True])
    out = zs.mask_loss(logits, iou_pred, truth, multimask)
    # written out: per mask 20 focal + dice; points: min over masks 1..3; box: mask 0
    focal = torchvision.ops.sigmoid_focal_loss(logits.detach(),
                                               truth[:, None].expand(-1, 4, -1, -1).float(),
                                               reduction="none").mean(dim=(-2, -1))
    p = logits.detach().sigmoid()
    t = truth[:, None].float()
    dice = 1 - (2 * (p * t).sum((-2, -1)) + 1) / (p.sum((-2, -1)) + t.sum((-2, -1)) + 1)
    per = 20 * focal + dice
    chosen = [int(per[0, 1:].argmin()) + 1, 0, int(per[2, 1:].argmin()) + 1]
    assert out["best"].tolist() == chosen
    expected = torch.stack([per[i, c] for i, c in enumerate(chosen)]).mean()
    torch.testing.assert_close(out["mask"].detach(), expected, rtol=1e-5, atol=0)
    # IoU head: MSE against the true IoU of the thresholded masks (3 for points, 1 for the box)
    inter = ((logits.detach() > 0) & truth[:, None]).sum((-2, -1)).float()
    union = ((logits.detach() > 0) | truth[:, None]).sum((-2, -1)).float()
    err = (iou_pred - inter / union) ** 2
    expected_iou = torch.cat([err[0, 1:], err[1, :1], err[2, 1:]]).mean()
    torch.testing.assert_close(out["iou"], expected_iou, rtol=1e-6, atol=0)
    # only the chosen mask of each prompt receives gradient
    out["mask"].backward()
    has_grad = logits.grad.abs().sum((-2, -1)) > 0
    assert has_grad.tolist() == [[c == k for k in range(4)] for c in chosen]


# -- training forward = the official path ----------------------------------------------------


def _image_and_segments(index: int = 0, seed: int = 1):
    from segedu.data import SyntheticScenes

    image, target = SyntheticScenes(size=128, length=index + 1, seed=seed)[index]
    return image.as_subclass(torch.Tensor), zs.scene_segments(target)


def test_answers_equal_the_official_forward(model):
    """sam_answers (points and boxes in one decoder call, the training path) equals Sam.forward
    with points alone (multimask) and boxes alone (single mask)."""
    image, segments = _image_and_segments()
    answers = zs.sam_answers(model, image, segments)
    points = torch.stack([zs.interior_point(s) for s in segments])
    boxes = masks_to_boxes(segments)
    record = {"image": image * 255, "original_size": (128, 128)}
    official_points = model([{**record, "point_coords": points[:, None],
                              "point_labels": torch.ones(len(points), 1)}],
                            multimask_output=True)[0]
    official_boxes = model([{**record, "boxes": boxes}], multimask_output=False)[0]
    torch.testing.assert_close(answers["point_iou"], official_points["iou_predictions"], rtol=1e-5,
                               atol=1e-5)
    # the thresholded masks agree but where the official logit is within 1e-4 of the threshold
    for ours, theirs in ((answers["point_masks"], official_points),
                         (answers["box_masks"][:, None], official_boxes)):
        logits = model.postprocess_masks(theirs["low_res_logits"], (128, 128), (128, 128))
        assert torch.equal(ours | (logits.abs() < 1e-4), theirs["masks"] | (logits.abs() < 1e-4))
    # and the low-resolution logits of the mixed (points + boxes) decoder call are the official ones
    m = len(segments)
    prompts = {"is_point": torch.arange(2 * m) < m, "points": torch.cat([points, points]),
               "boxes": torch.cat([boxes, boxes])}
    sparse, dense = zs.prompt_tokens(model, prompts, None, None)
    _, low_res, _ = model.decode_all_masks(model.embed_images(image[None] * 255), sparse, dense,
                                           input_size=(128, 128), original_size=(128, 128))
    torch.testing.assert_close(low_res[:m, 1:].detach(), official_points["low_res_logits"],
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(low_res[m:, :1].detach(), official_boxes["low_res_logits"],
                               rtol=1e-4, atol=1e-5)


def test_decode_with_mask_prompt_equals_the_official_forward(model):
    """The correction round's prompt (two points and a mask) through decode/prompt_tokens, with
    gradients, equals Sam.forward's (no_grad) single-mask output."""
    image, segments = _image_and_segments()
    torch.manual_seed(3)
    coords = torch.rand(len(segments), 2, 2) * 127
    labels = torch.tensor([[1.0, 0.0]]).repeat(len(segments), 1)
    masks = torch.randn(len(segments), 1, 64, 64)
    embedding = model.embed_images(image[None] * 255)
    logits, low_res, iou = zs.decode(model, embedding, points=(coords, labels), boxes=None,
                                     masks=masks)
    official = model([{"image": image * 255, "original_size": (128, 128), "point_coords": coords,
                       "point_labels": labels, "mask_inputs": masks}], multimask_output=False)[0]
    torch.testing.assert_close(low_res[:, :1].detach(), official["low_res_logits"], rtol=1e-4,
                               atol=1e-5)
    torch.testing.assert_close(iou[:, :1].detach(), official["iou_predictions"], rtol=1e-4,
                               atol=1e-5)
    assert logits.requires_grad  # the training path keeps gradients
    # mixed correction-round tokens: a point prompt [p, new, pad] and a box prompt [new, corners]
    # (the box first, so that the rows must be put back in prompt order)
    prompts = {"is_point": torch.tensor([False, True, False]), "points": coords[:3, 0],
               "boxes": torch.tensor(
        [[20.0, 30.0, 90.0, 100.0], [0.0, 0.0, 10.0, 10.0], [5.0, 6.0, 50.0, 40.0]])}
    extra = (coords[:3, 1], torch.tensor([1.0, 0.0, 0.0]))
    sparse, dense = zs.prompt_tokens(model, prompts, extra, masks[:3])
    alone_box = model.prompt_encoder(points=(coords[0:1, 1:], torch.ones(1, 1)),
                                     boxes=prompts["boxes"][:1],
                                     masks=masks[:1])
    alone_point = model.prompt_encoder(points=(coords[1:2], labels[1:2]), boxes=None,
                                       masks=masks[1:2])
    alone_box2 = model.prompt_encoder(points=(coords[2:3, 1:], torch.zeros(1, 1)),
                                      boxes=prompts["boxes"][2:],
                                      masks=masks[2:3])
    torch.testing.assert_close(sparse, torch.cat([alone_box[0], alone_point[0], alone_box2[0]]))
    torch.testing.assert_close(dense, torch.cat([alone_box[1], alone_point[1], alone_box2[1]]))


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = get_model("sam_tiny").train()
    image, segments = _image_and_segments(0, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        embedding = model.embed_images(image[None] * 255)
        out = zs.image_step(model, embedding, segments, np.random.default_rng(0), prompts=4,
                            rounds=2)
        optimizer.zero_grad()
        out["total"].backward()
        optimizer.step()
        losses.append(float(out["total"].detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_sam_is_reproducible_and_checks_arguments():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = get_model("sam_tiny")
        config = zs.SamConfig("sam_tiny", steps=2, batch=1, scenes=3, prompts=2)
        run = zs.train_sam(model, config, torch.device("cpu"), log=lambda s: None)
        runs.append((run["loss"], next(model.parameters()).detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert set(run) >= {"steps", "warmup", "minutes", "loss", "focal", "dice", "iou"}
    assert run["warmup"] == 0  # a run of 2 steps warms up for a fifth of it
    for bad in (dict(steps=0), dict(prompts=0), dict(rounds=0), dict(scenes=0)):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be a positive integer"):
            zs.SamConfig("sam_tiny", **bad)


def test_an_interrupted_sam_run_resumes_exactly(tmp_path, interrupt_training):
    """Three steps in one go, or two, an interruption and the third after a restart: the same
    weights (the resume file keeps the scene order, the prompts' generator and the rest of the
    pass's order, besides weights, optimizer, schedule and random state)."""
    def run(out, stop=False):
        config = zs.SamConfig("sam_tiny", steps=3, batch=1, scenes=2, prompts=2, out=out,
                              save_every=1)
        _, model = config.start()
        zs.train_sam(model, config, torch.device("cpu"), log=None)
        return model, config

    whole, config = run(tmp_path / "whole")
    assert not config.resume_path.exists()
    interruption = interrupt_training(segedu.zoo.recipe, after=1)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "split")
    interruption.undo()
    assert torch.load(tmp_path / "split" / "sam_tiny_resume.pt", weights_only=True)["step"] == 2
    resumed, _ = run(tmp_path / "split")
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(),
                                                 resumed.state_dict().values(), strict=True))


# -- evaluation -----------------------------------------------------------------------------


def test_interior_point():
    mask = torch.zeros(9, 12, dtype=torch.bool)
    mask[1:8, 2:9] = True  # a 7 x 7 square: its centre
    assert zs.interior_point(mask).tolist() == [5.0, 4.0]
    border = torch.zeros(8, 8, dtype=torch.bool)
    border[:, :3] = True  # touches the image border: the border counts as outside, column 1
    assert zs.interior_point(border)[0] == 1.0
    with pytest.raises(ValueError, match="non-empty"):
        zs.interior_point(torch.zeros(4, 4, dtype=torch.bool))


def test_score_perfect_bad_and_ranked_predictors():
    _, segments = _image_and_segments()
    empty = torch.zeros_like(segments)
    perfect = {"point_masks": torch.stack([segments, empty, segments], dim=1),
               "point_iou": torch.tensor([[1.0, 0.0, 1.0]]).repeat(len(segments), 1),
               "box_masks": segments}
    assert zs.score_answers([perfect], [segments]) == pytest.approx(
        {"miou_point": 1.0, "miou_point_oracle": 1.0, "miou_box": 1.0, "iou_correlation": 1.0})
    # SAM ranks the empty mask first: the point mIoU drops to 0, the oracle stays at 1
    misranked = {**perfect, "point_iou": torch.tensor([[0.0, 1.0, 0.5]]).repeat(len(segments), 1)}
    score = zs.score_answers([misranked], [segments])
    assert score["miou_point"] == 0.0 and score["miou_point_oracle"] == 1.0
    assert score["iou_correlation"] < 0
    bad = {"point_masks": torch.stack([empty] * 3, dim=1),
           "point_iou": torch.rand(len(segments), 3),
           "box_masks": ~segments}
    score = zs.score_answers([bad], [segments])
    assert score["miou_point"] == 0.0 and score["miou_point_oracle"] == 0.0
    assert score["miou_box"] < 0.5


def test_evaluate_sam_is_deterministic_and_checks_length(model):
    a, b = zs.evaluate_sam(model, length=2), zs.evaluate_sam(model, length=2)
    assert a == b and set(a) == {"miou_point", "miou_point_oracle", "miou_box", "iou_correlation"}
    assert 0 <= a["miou_point"] <= a["miou_point_oracle"] <= 1
    with pytest.raises(ValueError, match="held-out"):
        zs.evaluate_sam(model, length=0)


# -- the recipe -------------------------------------------------------------------------------


def test_recipe_writes_a_checkpoint_and_a_card_that_rescores(tmp_path, capsys):
    config = zs.SamConfig("sam_tiny", steps=2, batch=1, out=tmp_path, scenes=2, test_scenes=2,
                          device="cpu")
    zs.train(config)
    card = (tmp_path / "sam_tiny_scenes.md").read_text()
    assert "1,018,532 parameters" in card and "2 steps" in card
    assert "python -m segedu.zoo.train sam_tiny" in card
    state = torch.load(tmp_path / "sam_tiny_scenes.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    model = get_model("sam_tiny")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    score = zs.evaluate(model, length=2)
    for key, value in score.items():
        written = float(re.search(rf"\| {key} .*\| (-?[\d.]+) \|", card).group(1))
        assert written == pytest.approx(value, abs=0.005), key
