"""segedu.zoo.dino: the DINO + iBOT recipe for the zoo's tiny ViT and the test of its features.

The recipe's own pieces are checked here (DINO's and iBOT's modules are tested in tests/models): the
patch classes and the Hungarian matching on hand-made maps and against brute force, the schedules
against DINO's ``cosine_scheduler`` written out with numpy, the evaluation's perfect and useless
describers, a few DINO and iBOT steps on a fixed batch, determinism (with and without an evaluation
during training), and the command end to end on a few scenes.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch

import segedu.models.foundation.dino  # noqa: F401  (registers dino_vit_tiny)
import segedu.zoo.recipe
from segedu.models import get_model
from segedu.models.foundation.dino import (
    DINOHead,
    DINOLoss,
    MultiCropWrapper,
    collate_crops,
    dino_training_step,
    make_teacher,
)
from segedu.models.foundation.dino.ibot import (
    MaskedPatchLoss,
    MaskedPatchWrapper,
    ibot_training_step,
    random_block_masks,
)
from segedu.zoo import ZOO, ZooEntry, dino
from segedu.zoo.scores import scene_tensors

ENTRY = ZooEntry("dino_vit_tiny", dict(), lr=5e-4, steps=2, task="features", batch=2)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tiny_vit() -> torch.nn.Module:
    torch.manual_seed(0)
    return get_model("dino_vit_tiny")


# ------------------------------------------------------------------------------------ patch classes


def test_patch_classes_on_a_hand_made_map():
    semantic = torch.zeros(1, 16, 16, dtype=torch.int64)
    semantic[0, :8, :8] = 3  # patch (0, 0): all circle
    semantic[0, :5, 8:] = 1  # patch (0, 1): 40 grass, 24 sky -> grass
    semantic[0, 8:12, :8] = 5  # patch (1, 0): 32 triangle, 32 sky -> the lower id, sky
    semantic[0, 8:, 8:] = 2  # patch (1, 1): water
    semantic[0, 15, 15] = 4  # one rectangle pixel does not change it
    assert dino.patch_classes(semantic, 8).tolist() == [[[3, 1], [0, 2]]]


def test_patch_classes_equals_a_count_per_patch():
    generator = torch.Generator().manual_seed(1)
    semantic = torch.randint(0, 6, (3, 24, 16), generator=generator)
    got = dino.patch_classes(semantic, 8)
    for b, i, j in itertools.product(range(3), range(3), range(2)):
        counts = np.bincount(semantic[b, 8 * i:8 * i + 8, 8 * j:8 * j + 8].reshape(-1).numpy(),
                             minlength=6)
        assert got[b, i, j] == int(np.argmax(counts))  # argmax: the first of equal counts


def test_patch_classes_rejects_bad_maps():
    with pytest.raises(ValueError, match="int64"):
        dino.patch_classes(torch.zeros(1, 16, 16), 8)
    with pytest.raises(ValueError, match="multiple of the patch"):
        dino.patch_classes(torch.zeros(1, 12, 16, dtype=torch.int64), 8)


# --------------------------------------------------------------------------------- Hungarian
# k-means score


def test_kmeans_score_by_hand():
    classes = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [3, 3, 3, 3], [3, 3, 3, 3]])
    # renamed clusters: perfect
    assert dino.kmeans_score((classes + 7) % 5, classes) == (1.0, 1.0)
    # two clusters for three classes: the sky+grass cluster goes to sky (4 of its 8), grass gets
    # none
    clusters = (classes == 3).long()
    miou, accuracy = dino.kmeans_score(clusters, classes)
    assert accuracy == pytest.approx(12 / 16)
    assert miou == pytest.approx((4 / 8 + 0 + 1) / 3)
    with pytest.raises(ValueError, match="shape"):
        dino.kmeans_score(clusters[:2], classes)


def test_kmeans_score_accuracy_is_the_best_one_to_one_matching():
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        classes = torch.randint(0, 4, (6, 6), generator=generator)
        clusters = torch.randint(0, 4, (6, 6), generator=generator)
        best = 0
        # brute force over every one-to-one map from the cluster ids to the class ids
        for image in itertools.permutations(range(4)):
            best = max(best,
                       sum(int(((clusters == c) & (classes == image[c])).sum()) for c in range(4)))
        assert dino.kmeans_score(clusters, classes)[1] == pytest.approx(best / 36)


# -----------------------------------------------------------------------------------------
# schedules


def _dino_cosine_scheduler(base: float, final: float, total: int, warmup: int = 0) -> np.ndarray:
    """DINO's ``utils.cosine_scheduler`` with one iteration per epoch, written out."""
    warm = np.linspace(0, base, warmup) if warmup > 0 else np.array([])
    iters = np.arange(total - warmup)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warm, cosine))


@pytest.mark.parametrize("steps,warmup", [(100, 10), (37, 3), (5, 1)])
def test_schedules_are_dinos(steps, warmup):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=5e-4)
    scheduler = dino.lr_schedule(optimizer, steps)
    lr = []
    for _ in range(steps):
        lr.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(lr, _dino_cosine_scheduler(5e-4, 1e-6, steps, warmup), rtol=1e-12,
                               atol=0)
    wd = [dino.weight_decay_at(k, steps, 0.04, 0.4) for k in range(steps)]
    np.testing.assert_allclose(wd, _dino_cosine_scheduler(0.04, 0.4, steps), rtol=1e-12, atol=0)


def test_augmentation_gives_two_global_and_local_views():
    image = (torch.rand(3, 128, 128) * 255).to(torch.uint8)
    views = dino.dino_augmentation(n_local=3)(image)
    assert [tuple(v.shape) for v in views] == [(3, 64, 64)] * 2 + [(3, 32, 32)] * 3
    assert all(v.dtype == torch.float32 for v in views)
    assert len(dino.dino_augmentation()(image)) == 2  # the recipe's: the 2 global views only


def test_augmentation_keeps_hue_and_colour():
    # no hue jitter, greying or solarisation: a pure-hue image keeps its dominant channel in every
    # view
    for channel in range(3):
        image = torch.zeros(3, 128, 128, dtype=torch.uint8)
        image[channel] = 200
        torch.manual_seed(channel)
        for _ in range(10):
            view = dino.dino_augmentation()(image)[0]
            assert int(view.mean(dim=(1, 2)).argmax()) == channel


# ---------------------------------------------------------------------------------------- training


def test_dino_steps_lower_the_loss_on_a_fixed_batch():
    images, _ = scene_tensors(seed=0, length=4)
    torch.manual_seed(0)
    augment = dino.dino_augmentation(n_local=2)
    crops = collate_crops([augment((x * 255).to(torch.uint8)) for x in images])
    student = MultiCropWrapper(backbone=_tiny_vit(),
                               head=DINOHead(in_dim=192, out_dim=64, hidden_dim=64,
                                                                  bottleneck_dim=32))
    teacher, loss = make_teacher(student), DINOLoss(out_dim=64)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    values = [dino_training_step(student, teacher, loss, crops, optimizer, 0.996, teacher_temp=0.04)
              for _ in range(8)]
    assert values[-1] < values[0] - 0.05, values


def test_ibot_steps_lower_the_loss_on_a_fixed_batch():
    images, _ = scene_tensors(seed=0, length=4)
    torch.manual_seed(0)
    views = collate_crops([dino.dino_augmentation()((x * 255).to(torch.uint8)) for x in images])
    g = torch.Generator().manual_seed(0)
    masks = [random_block_masks(4, (8, 8), generator=g, probability=1.0) for _ in views]
    student = MaskedPatchWrapper(backbone=_tiny_vit(),
                                 head=DINOHead(in_dim=192, out_dim=64, hidden_dim=64,
                                                                      bottleneck_dim=32))
    teacher = make_teacher(student)
    class_loss, patch_loss = DINOLoss(out_dim=64), MaskedPatchLoss(out_dim=64)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    values = [ibot_training_step(student, teacher, class_loss, patch_loss, views, masks, optimizer,
                                 0.996, teacher_temp=0.04) for _ in range(8)]
    # the sum falls, and the patch term most (the class term may rise for a few steps while the
    # centre moves)
    assert values[-1]["loss"] < values[0]["loss"] - 0.5, values
    assert values[-1]["patch_loss"] < values[0]["patch_loss"] - 0.5, values


def test_train_dino_is_deterministic_and_ships_the_teacher():
    runs, seen = [], []

    def evaluate_and_use_the_random_generator(step, backbone):
        seen.append((step, backbone.training))
        torch.rand(1000)  # an evaluation that draws random numbers must not change the run

    for callback in (None, evaluate_and_use_the_random_generator):
        model = _tiny_vit()
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        config = dino.DinoConfig("dino_vit_tiny", entry=ENTRY, steps=3, batch=2, scenes=4,
                                 out_dim=32, hidden_dim=32, bottleneck_dim=16)
        run = dino.train_dino(model, config, log=lambda _: None, callback=callback,
                              callback_every=1)
        runs.append((run, model.state_dict()))
    (run, state), (run2, state2) = runs
    assert set(run) >= {"steps", "minutes", "loss", "class_loss",
                        "patch_loss"} and run["steps"] == 3
    assert math.isfinite(run["loss"])
    assert run["loss"] == pytest.approx(run["class_loss"] + run["patch_loss"])
    assert run["loss"] == run2["loss"]
    assert all(torch.equal(state[k], state2[k]) for k in state)
    # every step but the last, on the teacher's backbone in training mode
    assert seen == [(1, True), (2, True)]
    # the model now holds the teacher: an EMA step away from the start, not equal to it
    assert any(not torch.equal(state[k], initial[k]) for k in state)
    with pytest.raises(ValueError, match="steps"):
        dino.DinoConfig("dino_vit_tiny", entry=ENTRY, steps=0)
    with pytest.raises(ValueError, match="cannot be larger than the number of scenes"):
        dino.DinoConfig("dino_vit_tiny", entry=ENTRY, batch=8, scenes=4)


def test_an_interrupted_run_resumes_exactly(tmp_path, interrupt_training):
    """Four steps in one go, or two, an interruption, and the last two after a restart: the same
    teacher, the same losses, and the caller's record kept across the calls (the resume file holds
    student, teacher, optimizer, schedule, the centres, the data order and the random states)."""
    def config(out):
        out.mkdir()
        return dino.DinoConfig("dino_vit_tiny", entry=ENTRY, steps=4, batch=2, scenes=3,
                               out_dim=32, hidden_dim=32, bottleneck_dim=16, out=out,
                               save_every=2)

    def record(keep):
        return lambda step, backbone: keep["steps"].append(step)

    whole, kept = _tiny_vit(), {"steps": []}
    run = dino.train_dino(whole, config(tmp_path / "whole"), log=lambda _: None,
                          callback=record(kept), callback_every=1, keep=kept)
    assert kept["steps"] == [1, 2, 3]

    split = config(tmp_path / "split")
    # stopped after the resume file of step 2 was written
    interruption = interrupt_training(segedu.zoo.recipe, after=1)
    first_kept = {"steps": []}
    with pytest.raises(KeyboardInterrupt):
        dino.train_dino(_tiny_vit(), split, log=lambda _: None, callback=record(first_kept),
                        callback_every=1, keep=first_kept)
    interruption.undo()
    assert torch.load(split.resume_path, weights_only=True)["step"] == 2
    lines, resumed_kept = [], {"steps": ["lost"]}
    torch.manual_seed(5)  # a ViT with other initial weights: the file's replace them
    resumed = get_model("dino_vit_tiny")
    again = dino.train_dino(resumed, split, log=lines.append, callback=record(resumed_kept),
                            callback_every=1, keep=resumed_kept)
    assert any(line.startswith("resuming from step 2") for line in lines)
    assert resumed_kept["steps"] == [1, 2, 3]  # restored from the file, then step 3's
    assert not split.resume_path.exists()  # removed once the run is complete
    assert again["loss"] == pytest.approx(run["loss"], abs=1e-6)
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=1e-6)


# -------------------------------------------------------------------------------------- evaluation


def _lookup_describer(noise: bool, regions: bool = False):
    """A describer that recognises the held-out and probe scenes and returns their true patch
    classes one-hot (``noise=False``: the perfect features; ``regions``: the things merged into one
    class) or random numbers (``noise=True``)."""
    table = []
    for seed in (0, 1):
        images, semantic = scene_tensors(seed=seed, length=4)
        table += list(zip(images,
                          dino.patch_classes(semantic.clamp(max=3) if regions else semantic, 8),
                          strict=True))
    generator = torch.Generator().manual_seed(0)

    def describe(batch: torch.Tensor) -> torch.Tensor:
        out = []
        for image in batch:
            classes = next(c for im, c in table if torch.equal(im, image))
            out.append(torch.rand(16, 16, 6, generator=generator) if noise
                       else torch.nn.functional.one_hot(classes, 6).float())
        return torch.stack(out)

    return describe


def test_evaluation_scores_a_perfect_describer_one_and_noise_low():
    perfect = dino.evaluate_features(_lookup_describer(False), patch=8, length=4, probe_scenes=4)
    assert set(perfect) == set(dino.ALL_METRICS) and len(dino.ALL_METRICS) == 8
    assert all(perfect[key] == pytest.approx(1.0) for key in dino.METRICS), perfect
    # the 6 classes, one-hot, are linearly separable into the 4 regions too
    assert perfect["regions_probe_accuracy"] == pytest.approx(1.0)
    regions = dino.evaluate_features(_lookup_describer(False, regions=True), patch=8, length=4,
                                     probe_scenes=4)
    assert all(regions[f"regions_{key}"] == pytest.approx(1.0) for key in dino.METRICS), regions
    # ... but the three thing classes merged into one are not the six classes
    assert regions["kmeans_miou"] < 1.0 and regions["probe_accuracy"] < 1.0
    noise = dino.evaluate_features(_lookup_describer(True), patch=8, length=4, probe_scenes=4)
    assert noise["kmeans_miou"] < 0.4 and noise["probe_miou"] < 0.4, noise
    assert noise["regions_kmeans_miou"] < 0.5 and noise["regions_probe_miou"] < 0.5, noise


def test_mean_rgb_baseline_is_deterministic_and_scores_between_0_and_1():
    first = dino.evaluate_pixels(length=3, probe_scenes=3)
    assert first == dino.evaluate_pixels(length=3, probe_scenes=3)
    assert all(0.0 <= v <= 1.0 for v in first.values())


# ------------------------------------------------------------------------------------------ command


def test_recipe_writes_a_checkpoint_and_a_card_that_rescore(tmp_path, capsys):
    assert ENTRY.checkpoint.name == "dino_vit_tiny_scenes.pt"
    config = dino.DinoConfig("dino_vit_tiny", entry=ENTRY, out=tmp_path, scenes=4, probe_scenes=3,
                             test_scenes=3, device="cpu")
    dino.train(config)
    state = torch.load(tmp_path / "dino_vit_tiny_scenes.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    model = get_model("dino_vit_tiny")
    # strict: the backbone's keys only
    model.load_state_dict({k: v.float() for k, v in state.items()})
    card = (tmp_path / "dino_vit_tiny_scenes.md").read_text()
    assert card.strip() in capsys.readouterr().out  # the card is printed too
    assert "1,829,568 parameters" in card and "2 steps" in card
    table = dict(re.findall(r"^\| (\w+) \| ([0-9.]+) \|$", card, flags=re.M))
    assert set(table) == set(dino.ALL_METRICS)
    again = dino.evaluate_dino(model, length=3, probe_scenes=3)
    for key, value in table.items():
        assert abs(float(value) - again[key]) <= 0.005, (key, value, again[key])
    assert "| metric | mean RGB of the patch | random-init ViT | trained ViT |" in card
    # the learning curve: the random initialisation (step 0), step 1 (a quarter of 2, at least 1),
    # the end
    curve = re.findall(r"^\| (\d+) \| ([0-9.]+) \|", card, flags=re.M)
    assert [int(step) for step, _ in curve] == [0, 1, 2]
    assert float(curve[-1][1]) == pytest.approx(float(table["kmeans_miou"]), abs=5e-4)


def test_the_registry_sends_a_features_entry_to_this_recipe(monkeypatch):
    from segedu.zoo import Task
    from segedu.zoo.train import RECIPES, config_for, recipe_for

    recipe = RECIPES[Task.FEATURES]
    assert recipe.train is dino.train and recipe.evaluate is dino.evaluate
    monkeypatch.setitem(ZOO, "dino_vit_tiny", ENTRY)
    assert recipe_for("dino_vit_tiny") is RECIPES[Task.FEATURES]
    config = config_for("dino_vit_tiny", steps=1)
    assert isinstance(config, dino.DinoConfig) and config.entry is ENTRY and config.steps == 1
