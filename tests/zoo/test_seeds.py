"""python -m segedu.zoo.seeds: a family retrained with several seeds, resumably, the median
seed shipped with the spread in its card (tiny runs: 2 steps on 16 scenes, scored on 8)."""

from __future__ import annotations

import statistics

import pytest
import torch

from segedu.zoo import ZOO
from segedu.zoo import seeds as zs
from segedu.zoo.float16 import load_float32
from segedu.zoo.train import config_for

TINY = dict(steps=2, scenes=16, test_scenes=8)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    shipped = tmp_path_factory.mktemp("shipped")
    scores = {s: zs.run_seed("unet", s, runs, length=8, **TINY) for s in (0, 1, 2)}
    median = zs.ship_median("unet", [0, 1, 2], runs, folder=shipped)
    return runs, shipped, scores, median


def test_the_median_seed_is_shipped_with_the_spread(family):
    runs, shipped, scores, median = family
    ranked = sorted(scores, key=lambda s: (scores[s]["miou"], s))
    assert median == ranked[1]
    name = ZOO["unet"].checkpoint.name
    assert (shipped / name).read_bytes() == (runs / "unet" / f"seed{median}" / name).read_bytes()
    card = (shipped / ZOO["unet"].card.name).read_text()
    assert card.count(zs.SECTION) == 1 and f"seed {median}'s" in card
    values = [scores[s]["miou"] for s in (0, 1, 2)]
    row = next(line for line in card.splitlines() if line.startswith("| miou |"))
    expected = f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    assert row.endswith(f"| {expected} |")
    assert "python -m segedu.zoo.seeds semantic --names unet --seeds" in card


def test_seeds_change_the_run(family):
    runs, *_ = family
    name = ZOO["unet"].checkpoint.name
    first, second = (load_float32(runs / "unet" / f"seed{s}" / name) for s in (0, 1))
    assert any(not torch.equal(first[k], second[k]) for k in first)


def test_a_finished_run_is_not_trained_again(family, monkeypatch):
    runs, _, scores, _ = family

    def no_recipe(name):
        raise AssertionError("a finished run was looked at again")

    monkeypatch.setattr(zs, "recipe_for", no_recipe)
    assert zs.run_seed("unet", 2, runs, length=8, **TINY) == scores[2]


def test_an_unfinished_family_is_not_shipped(tmp_path):
    with pytest.raises(ValueError, match="not finished"):
        zs.ship_median("unet", [0, 1], tmp_path, folder=tmp_path / "out")
    with pytest.raises(ValueError, match="two seeds"):
        zs.summarise({0: {"miou": 0.5}}, "miou")


def test_the_semantic_recipe_keeps_a_resumable_state(family):
    """The semantic recipe gives fit its resume_dir: last.pt, from which an interrupted run goes
    on (fit's exact resume is tested in tests/engine)."""
    runs, *_ = family
    assert (runs / "unet" / "seed0" / "resume" / "last.pt").is_file()
    assert config_for("unet", seed=3, **TINY).command_line().endswith("--seed 3")
    with pytest.raises(ValueError, match="seed"):
        config_for("unet", seed=-1)
