"""python -m segedu.zoo.query_diagnosis: where a query model loses the things (localisation,
recognition, inference thresholds), checked on oracle models built from the ground truth, and
its card section read back as written."""

from __future__ import annotations

import pytest
import torch

from segedu.data.synthetic_scenes import SCENE_THINGS
from segedu.zoo import ZOO
from segedu.zoo import query_diagnosis as qd
from segedu.zoo.cards import replace_card_section
from segedu.zoo.panoptic import held_out_panoptic

NO_OBJECT = 6  # the class index after the six scene categories


class Oracle(torch.nn.Module):
    """One query per ground-truth thing: its mask (logit +10 inside, -10 outside, or ``shift``ed
    sideways) and a class logit +10 on ``answer(category)``; the other queries are empty."""

    def __init__(self, truth: torch.Tensor, answer, shift: int = 0, queries: int = 24) -> None:
        super().__init__()
        self.truth, self.answer, self.shift, self.queries = truth, answer, shift, queries

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = images.shape
        masks = torch.full((b, self.queries, h, w), -10.0)
        logits = torch.full((b, self.queries, NO_OBJECT + 1), -10.0)
        logits[..., NO_OBJECT] = 10.0
        for k, panoptic in enumerate(self.truth[:b]):
            category, instance = panoptic[..., 0], panoptic[..., 1]
            q = 0
            for c in SCENE_THINGS:
                for i in instance[(category == c) & (instance > 0)].unique().tolist():
                    thing = ((category == c) & (instance == i)).roll(self.shift, dims=1)
                    masks[k, q][thing] = 10.0
                    logits[k, q] = -10.0
                    logits[k, q, self.answer(c)] = 10.0
                    q += 1
        return {"pred_masks": masks, "pred_logits": logits}


@pytest.fixture(scope="module")
def scenes():
    return held_out_panoptic(4)


def test_an_oracle_localises_and_names_every_thing(scenes):
    images, truth = scenes
    out = qd._thing_answers(Oracle(truth, answer=lambda c: c), images, truth)
    assert out["things"] > 0
    assert out["localised"] == out["best_iou"] == out["best_query_right_class"] == 1.0
    assert out["best_query_no_object"] == 0.0 and out["best_query_p_true"] == pytest.approx(1.0)
    assert out["some_query_right_class"] == out["localising_queries"] == 1.0


def test_a_query_that_finds_but_misnames_is_a_recognition_failure(scenes):
    images, truth = scenes
    out = qd._thing_answers(Oracle(truth, answer=lambda c: NO_OBJECT), images, truth)
    assert out["localised"] == 1.0
    assert out["best_query_right_class"] == 0.0 and out["best_query_no_object"] == 1.0
    wrong = qd._thing_answers(Oracle(truth, answer=lambda c: 3 + (c - 2) % 3), images, truth)
    assert wrong["best_query_right_class"] == 0.0 and wrong["best_query_no_object"] == 0.0


class Duplicates(Oracle):
    """The oracle plus, for each thing, a second query whose mask is the thing's shifted by one
    pixel; the exact mask says "no object", the shifted one names the class."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(images)
        masks, logits = out["pred_masks"], out["pred_logits"]
        half = self.queries // 2
        masks[:, half:] = masks[:, :half].roll(1, dims=-1)
        logits[:, half:] = logits[:, :half]
        logits[:, :half] = -10.0
        logits[:, :half, NO_OBJECT] = 10.0
        return out


def test_a_duplicate_that_names_the_thing_is_told_apart_from_no_recognition(scenes):
    images, truth = scenes
    out = qd._thing_answers(Duplicates(truth, answer=lambda c: c, queries=48), images, truth)
    # the best mask is the exact one, which says "no object"; its shifted twin names the thing
    assert out["best_query_no_object"] == 1.0 and out["best_query_right_class"] == 0.0
    assert out["some_query_right_class"] == 1.0 and out["localising_queries"] == 2.0
    nobody = qd._thing_answers(Oracle(truth, answer=lambda c: NO_OBJECT), images, truth)
    assert nobody["some_query_right_class"] == 0.0


def test_masks_moved_off_their_things_are_a_localisation_failure(scenes):
    images, truth = scenes
    out = qd._thing_answers(Oracle(truth, answer=lambda c: c, shift=40), images, truth)
    assert out["localised"] < 0.5 and out["best_iou"] < 0.5


def test_the_card_section_reads_back(tmp_path):
    result = {"things": 12, "localised": 0.8531, "best_iou": 0.7414,
              "best_query_right_class": 0.2251, "best_query_no_object": 0.3719,
              "best_query_p_true": 0.2204, "some_query_right_class": 0.6012,
              "localising_queries": 2.3456}
    for objects, overlap in qd.THRESHOLDS:
        result[f"pq_things@{objects:g}/{overlap:g}"] = objects * overlap / 3
        result[f"pq_stuff@{objects:g}/{overlap:g}"] = 0.957
    card = tmp_path / ZOO["mask2former"].card.name
    card.write_text("# a card\n\n| metric | value |\n| pq | 0.585 |\n")
    replace_card_section(card, qd.card_section("mask2former", result, minutes=1.0, length=4))
    read = qd.card_diagnosis("mask2former", folder=tmp_path)
    assert read.keys() == result.keys()
    for key, value in result.items():
        assert read[key] == pytest.approx(value, abs=5e-4), key
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="query_diagnosis mask2former"):
        qd.card_diagnosis("mask2former", folder=tmp_path / "other")


def test_the_shipped_cards_hold_their_diagnosis():
    keys = {*qd._ROWS.values(), *(f"pq_{part}@{o:g}/{v:g}" for o, v in qd.THRESHOLDS
                                  for part in ("things", "stuff"))}
    for name in ("mask2former", "eomt"):
        read = qd.card_diagnosis(name)
        assert read.keys() == keys, name
        counts = ("things", "localising_queries")  # the rest are shares and PQs, in [0, 1]
        assert read["things"] >= 1 and read["localising_queries"] >= 0
        assert all(0 <= v <= 1 for k, v in read.items() if k not in counts)


def test_a_run_not_shipped_gets_its_own_section(tmp_path, monkeypatch, capsys):
    """``--checkpoint`` with ``--title``: the entry's architecture with that run's weights, its
    measures in the section ``## Why things are missed: <title>`` beside the shipped model's,
    which stays as it was (the card is a copy in ``tmp_path``)."""
    import shutil

    from segedu.models import get_model
    from segedu.zoo.float16 import save_float16

    torch.manual_seed(0)
    model = get_model("mask2former", **ZOO["mask2former"].kwargs)
    path = save_float16(model, tmp_path / "run.pt")
    card = tmp_path / ZOO["mask2former"].card.name
    shutil.copyfile(ZOO["mask2former"].card, card)
    monkeypatch.setattr(qd, "FOLDER", tmp_path)
    shipped = qd.card_diagnosis("mask2former", folder=tmp_path)
    assert qd.main(["mask2former", "--checkpoint", str(path), "--title", "a random run",
                    "--length", "2"]) == 0
    assert f"query_diagnosis mask2former --checkpoint {path} --title 'a random run'`" in (
        capsys.readouterr().out)
    assert qd.card_diagnosis("mask2former", folder=tmp_path) == shipped
    run = qd.card_diagnosis("mask2former", folder=tmp_path, title="a random run")
    assert set(run) == set(shipped) and run != shipped
    # the card's other sections are kept (the class-weight comparison after the diagnosis)
    assert card.read_text().startswith(ZOO["mask2former"].card.read_text().rstrip("\n"))
    for bad in (["--checkpoint", str(path)], ["--title", "x"], ["--num-queries", "8"],
                ["--checkpoint", str(tmp_path / "missing.pt"), "--title", "x"]):
        with pytest.raises(SystemExit):
            qd.main(["mask2former", *bad])


def test_a_run_with_fewer_queries_is_diagnosed_with_its_own_architecture(tmp_path, monkeypatch,
                                                                         capsys):
    """``--num-queries``: a run trained with another number of queries (``python -m
    segedu.zoo.train mask2former --num-queries 16``) is loaded into a model of that many
    queries, its diagnosis counts queries of that model, and its command says so; without the
    option, its weights do not fit the entry's model and the load fails."""
    import shutil

    from segedu.models import get_model
    from segedu.zoo.float16 import save_float16

    torch.manual_seed(0)
    model = get_model("mask2former", **{**ZOO["mask2former"].kwargs, "num_queries": 7})
    assert model.num_queries == 7
    path = save_float16(model, tmp_path / "run.pt")
    shutil.copyfile(ZOO["mask2former"].card, tmp_path / ZOO["mask2former"].card.name)
    monkeypatch.setattr(qd, "FOLDER", tmp_path)
    assert qd.main(["mask2former", "--checkpoint", str(path), "--title", "seven queries",
                    "--num-queries", "7", "--length", "2"]) == 0
    assert "--title 'seven queries' --num-queries 7`" in capsys.readouterr().out
    run = qd.card_diagnosis("mask2former", folder=tmp_path, title="seven queries")
    assert run["localising_queries"] <= 7  # queries covering a thing: at most the model's
    with pytest.raises(RuntimeError, match="size mismatch"):
        qd.main(["mask2former", "--checkpoint", str(path), "--title", "x", "--length", "2"])
