"""python -m segedu.zoo.query_threshold: the object threshold is chosen on the validation scenes
and judged on the held-out ones, checked on an oracle whose confidence is known, and its card
section read back as written."""

from __future__ import annotations

import math

import pytest
import torch

from segedu.data.synthetic_scenes import SCENE_THINGS
from segedu.models.universal.mask2former.inference import QueryInference
from segedu.zoo import ZOO
from segedu.zoo import query_threshold as qt
from segedu.zoo.cards import replace_card_section
from segedu.zoo.panoptic import evaluate_panoptic, held_out_panoptic, mask2former_panoptic

NO_OBJECT = 6  # the class index after the six scene categories
SCENES = 3


class UnsureOracle(QueryInference, torch.nn.Module):
    """One query per ground-truth thing of the scene it is shown (validation or held-out, found
    by the image), with its exact mask and probability ``p`` of the true class (the rest on "no
    object"); the other queries say "no object". Mask2Former's own inference reads it out."""

    def __init__(self, p: float, queries: int = 24) -> None:
        super().__init__()
        self.p, self.queries = p, queries
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # where the model's device is read
        self.scenes = [pair for seed in (1, 2)
                       for pair in zip(*held_out_panoptic(SCENES, seed=seed), strict=True)]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = images.shape
        masks = torch.full((b, self.queries, h, w), -10.0)
        logits = torch.full((b, self.queries, NO_OBJECT + 1), -30.0)
        logits[..., NO_OBJECT] = 10.0
        for k, image in enumerate(images):
            panoptic = next(t for im, t in self.scenes if torch.equal(im, image))
            category, instance = panoptic[..., 0], panoptic[..., 1]
            q = 0
            for c in SCENE_THINGS:
                for i in instance[(category == c) & (instance > 0)].unique().tolist():
                    masks[k, q][(category == c) & (instance == i)] = 10.0
                    logits[k, q] = -30.0
                    logits[k, q, c] = math.log(self.p)
                    logits[k, q, NO_OBJECT] = math.log(1 - self.p)
                    q += 1
        return {"pred_masks": masks, "pred_logits": logits}


def test_the_validation_split_is_not_the_held_out_one():
    _, held_out = held_out_panoptic(SCENES)
    _, validation = held_out_panoptic(SCENES, seed=2)
    assert not torch.equal(held_out, validation)
    perfect = evaluate_panoptic(lambda ims: validation[:len(ims)], length=SCENES, seed=2)
    assert perfect["pq"] == 1.0
    with pytest.raises(ValueError, match="training scenes"):
        held_out_panoptic(SCENES, seed=0)


def test_an_unsure_model_gets_the_highest_threshold_it_passes():
    """The oracle's things have probability 0.65: thresholds under it keep them all (PQ of
    things 1), those above lose them all (0); the tie among the lower ones goes to the highest,
    0.6, and the held-out split scores the paper's 0.8 and 0.6, as evaluate_panoptic does."""
    model = UnsureOracle(p=0.65)
    choice = qt.choose_threshold(model, validation=SCENES, length=SCENES)
    assert choice.chosen == 0.6
    kept = [choice.validation[t]["pq_things"] for t in qt.CANDIDATES]
    assert kept == [float(t < 0.65) for t in qt.CANDIDATES]
    assert sorted(choice.held_out) == [0.6, 0.8]
    assert choice.held_out[0.6]["pq_things"] == 1.0 and choice.held_out[0.8]["pq_things"] == 0.0
    # the paper's read-out of the model run again, without the sweep's stored outputs
    again = evaluate_panoptic(lambda ims: mask2former_panoptic(model, ims), length=SCENES)
    assert choice.held_out[0.8]["pq"] == pytest.approx(again["pq"])
    with pytest.raises(ValueError, match="thresholds"):
        qt.choose_threshold(model, candidates=(0.5, 1.5), validation=SCENES, length=SCENES)


def test_the_card_section_reads_back(tmp_path):
    choice = qt.choose_threshold(UnsureOracle(p=0.55), validation=SCENES, length=SCENES)
    assert choice.chosen == 0.5
    card = tmp_path / ZOO["mask2former"].card.name
    card.write_text("# card\n\n## Other\n\n- kept\n")
    title = "16 queries (one run)"
    replace_card_section(card, qt.card_section("mask2former", choice, minutes=0.1,
                                               validation=SCENES, length=SCENES,
                                               checkpoint=tmp_path / "run.pt", title=title,
                                               num_queries=16))
    back = qt.card_threshold("mask2former", folder=tmp_path, title=title)
    assert back.chosen == choice.chosen
    for t, score in choice.held_out.items():
        assert back.held_out[t] == {k: round(v, 3) for k, v in score.items()}
    assert sorted(back.validation) == sorted(qt.CANDIDATES)
    assert "--num-queries 16" in card.read_text() and "- kept" in card.read_text()
    with pytest.raises(ValueError, match="query_threshold mask2former"):
        qt.card_threshold("mask2former", folder=tmp_path)


class CountingOracle(UnsureOracle):
    """The oracle, counting the images it is run on."""

    def __init__(self, p: float) -> None:
        super().__init__(p)
        self.images_seen = 0

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.images_seen += len(images)
        return super().forward(images)


def test_the_sweep_runs_the_model_once_per_scene(monkeypatch):
    """Nine thresholds on the validation scenes and two on the held-out ones read one forward
    pass of each scene (stored outputs) and make each split once; the scores equal those of a
    model run per threshold."""
    model, made = CountingOracle(p=0.45), []

    def counted(length, *, seed):
        made.append((length, seed))
        return held_out_panoptic(length, seed=seed)

    monkeypatch.setattr(qt, "held_out_panoptic", counted)
    choice = qt.choose_threshold(model, validation=SCENES, length=SCENES)
    assert model.images_seen == 2 * SCENES
    assert sorted(made) == [(SCENES, 1), (SCENES, 2)]
    for t, score in choice.validation.items():
        rerun = evaluate_panoptic(lambda ims, t=t: mask2former_panoptic(
            model, ims, object_mask_threshold=t, overlap_threshold=qt.OVERLAP),
            length=SCENES, seed=2)
        assert score == {key: rerun[key] for key in qt.KEYS}, t
