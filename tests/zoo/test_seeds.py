"""python -m segedu.zoo.seeds: a family retrained with several seeds, resumably, the median
seed shipped with the spread in its card (tiny runs: 2 steps on 16 scenes, scored on 8)."""

from __future__ import annotations

import shutil
import statistics

import pytest
import torch

from segedu.zoo import ZOO
from segedu.zoo import seeds as zs
from segedu.zoo.float16 import load_float32
from segedu.zoo.train import config_for, recipe_for

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


def test_a_finished_run_asked_for_with_other_settings_is_refused(family, monkeypatch):
    runs, _, scores, _ = family

    def no_recipe(name):
        raise AssertionError("a finished run was looked at again")

    monkeypatch.setattr(zs, "recipe_for", no_recipe)
    with pytest.raises(ValueError, match=r"trained with settings .*'steps': 2.*not .*'steps': 3"):
        zs.run_seed("unet", 2, runs, length=8, **{**TINY, "steps": 3})
    # workers change the speed, not the result: the run is still the one asked for
    assert zs.run_seed("unet", 2, runs, length=8, workers=2, **TINY) == scores[2]


def test_a_run_finished_before_settings_were_kept_is_checked_by_its_card(family, tmp_path):
    runs, _, scores, _ = family
    old = tmp_path / "unet" / "seed2"
    shutil.copytree(runs / "unet" / "seed2", old)
    (old / zs.SETTINGS_FILE).unlink()  # as a run of an older segedu left it
    assert zs.run_seed("unet", 2, tmp_path, length=8, **TINY) == scores[2]
    with pytest.raises(ValueError, match="of 2 steps \\(its card\\), not 3"):
        zs.run_seed("unet", 2, tmp_path, length=8, **{**TINY, "steps": 3})


def test_an_unfinished_family_is_not_shipped(tmp_path):
    with pytest.raises(ValueError, match="not finished"):
        zs.ship_median("unet", [0, 1], tmp_path, folder=tmp_path / "out")
    with pytest.raises(ValueError, match="two seeds"):
        zs.summarise({0: {"miou": 0.5}}, "miou")


def test_the_semantic_recipe_keeps_a_resumable_state(family):
    """The semantic recipe keeps its run in the run folder's resume file while it trains and
    removes it at the end (an interrupted run goes on from it: tests/zoo/test_one_loop_recipes.py,
    also from an older segedu's resume/last.pt)."""
    runs, *_ = family
    assert not list((runs / "unet" / "seed0").glob("*resume*"))
    assert config_for("unet", seed=3, **TINY).command_line().endswith("--seed 3")
    with pytest.raises(ValueError, match="seed"):
        config_for("unet", seed=-1)


def test_the_card_spread_reads_back_what_was_shipped(family):
    """card_spread (what the chapters show as "mean ± sd") returns the per-seed scores that
    scores.json holds, to the card's 3 decimals, and the shipped seed."""
    _, shipped, scores, median = family
    spread = zs.card_spread("unet", folder=shipped)
    assert spread.seeds == (0, 1, 2) and spread.shipped == median
    assert set(spread.scores) == {k for k, v in scores[0].items() if isinstance(v, float)}
    for key, values in spread.scores.items():
        assert values == pytest.approx([scores[s][key] for s in (0, 1, 2)], abs=5e-4)
    values = [scores[s]["miou"] for s in (0, 1, 2)]
    assert spread.mean("miou") == pytest.approx(statistics.mean(values), abs=5e-4)
    assert spread.sd("miou") == pytest.approx(statistics.stdev(values), abs=1e-3)
    # the text the chapters glue is the card's own "mean ± sd" cell, from the unrounded scores
    assert spread.text("miou") == f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def test_the_spread_text_is_the_cards_cell_where_rounded_seeds_would_round_otherwise(tmp_path):
    """Seeds 0.7881, 0.7884, 0.7891 print as 0.788, 0.788, 0.789, whose mean rounds to 0.788;
    the card's mean of the unrounded scores, 0.7885, prints 0.789. A chapter shows the card's."""
    scores = {k: {"pq": v} for k, v in enumerate((0.7881, 0.7884, 0.7891))}
    _, section = zs.summarise(scores, "pq")
    card = tmp_path / "card.md"
    card.write_text("# a card\n\n" + "\n".join(section) + "\n", encoding="utf8")
    spread = zs.read_spread(card, retrain="unused")
    assert spread.scores["pq"] == (0.788, 0.788, 0.789)
    assert f"{spread.mean('pq'):.3f}" == "0.788"  # the mean of the rounded figures
    assert spread.text("pq") == "0.789 ± 0.001"  # the card's


def test_a_card_of_one_run_has_no_spread(tmp_path):
    (tmp_path / ZOO["unet"].card.name).write_text("# one run\n\n| metric | value |\n")
    with pytest.raises(ValueError, match="one seed.*segedu.zoo.seeds semantic --names unet"):
        zs.card_spread("unet", folder=tmp_path)
    assert zs.spreads(["unet"], folder=tmp_path) == {}


def test_spreads_keeps_the_cards_with_seeds(family, tmp_path):
    _, shipped, _, _ = family
    assert zs.spreads(["unet"], folder=shipped) == {"unet": zs.card_spread("unet", folder=shipped)}


class _Stop(Exception):
    """Raised by a spy once it has seen what it looks for: the run need not go on."""


@pytest.mark.parametrize("name", ["maskrcnn_resnet_fpn", "mask2former", "unet_weight_map"])
def test_every_family_draws_its_data_order_from_the_seed(name, tmp_path, monkeypatch):
    """A seed is the initialisation *and* the data order (TrainConfig's contract), or three seeds
    would differ by their initialisation alone: the instance and panoptic recipes shuffle with a
    generator of the run's seed, the cell recipe replays its order from the seed."""
    from segedu.zoo import cells, instances, panoptic

    seen = {}

    def loader_spy(*args, generator=None, **kwargs):
        seen["seed"] = generator.initial_seed()
        raise _Stop

    def replay_spy(loader, *, seed):
        seen["seed"] = seed
        raise _Stop

    module = {"maskrcnn_resnet_fpn": instances, "mask2former": panoptic, "unet_weight_map": cells}
    if name == "unet_weight_map":
        monkeypatch.setattr(cells, "replay_batches", replay_spy)
        monkeypatch.setattr(cells, "cell_tensors", lambda seed, length, data: (
            torch.zeros(length, 1, 8, 8), torch.zeros(length, 8, 8, dtype=torch.int64)))
        monkeypatch.setattr(cells, "CellTargets", lambda *args: list(range(4)))
    else:
        monkeypatch.setattr(module[name], "DataLoader", loader_spy)
    config = config_for(name, seed=7, out=tmp_path, resume_dir=tmp_path / "resume",
                        device="cpu", **({"images": 4} if name == "unet_weight_map" else {}))
    with pytest.raises(_Stop):
        recipe_for(name).train(config)
    assert seen["seed"] == 7


def test_a_cell_model_retrains_with_seeds_and_keeps_a_resumable_state(tmp_path):
    """The cell family goes through the same command (each seed's run resumable from its resume
    file, removed at the end), and two seeds give two different models."""
    tiny = dict(steps=2, images=8, test_images=2, batch=4)
    for seed in (0, 1):
        scores = zs.run_seed("unet_weight_map", seed, tmp_path, length=2, **tiny)
        assert zs.HEADLINE[ZOO["unet_weight_map"].task] in scores
        assert not list((tmp_path / "unet_weight_map" / f"seed{seed}").glob("*resume*"))
    name = ZOO["unet_weight_map"].checkpoint.name
    first, second = (load_float32(tmp_path / "unet_weight_map" / f"seed{s}" / name) for s in (0, 1))
    assert any(not torch.equal(first[k], second[k]) for k in first)


def test_the_command_hands_workers_to_the_instance_recipe_only(monkeypatch, tmp_path):
    """``--workers`` reaches the instance recipe's configuration (DataLoader processes on a GPU
    machine), and the timings of a run are no row of the spread: they measure the machine."""
    seen = []
    monkeypatch.setattr(zs, "run_seed", lambda name, seed, runs, **settings:
                        seen.append((name, seed, settings)) or {"mask_map_50": 0.5})
    monkeypatch.setattr(zs, "ship_median", lambda *args, **kwargs: 0)
    zs.main(["instances", "--names", "yolact", "--seeds", "0", "--steps", "3", "--workers", "2",
             "--runs", str(tmp_path)])
    assert seen == [("yolact", 0, {"steps": 3, "workers": 2})]
    _, section = zs.summarise({0: {"miou": 0.5, "seconds_per_image": 0.1},
                               1: {"miou": 0.6, "seconds_per_image": 0.3}}, "miou")
    assert any(line.startswith("| miou |") for line in section)
    assert not any("seconds" in line for line in section)


def test_every_family_has_a_headline_score():
    """The seeds of any family can be ranked (the median shipped): each task names the score of
    its recipe's evaluate that ranks them."""
    from segedu.zoo import Task

    assert set(zs.HEADLINE) == set(Task)


def test_the_command_hands_init_from_to_the_panoptic_recipe(monkeypatch, tmp_path):
    """``--init-from`` starts every seed of Panoptic FPN from the same instance model (the
    zoo's Mask R-CNN), and the run's recorded command names it as the option it was given."""
    seen = []
    monkeypatch.setattr(zs, "run_seed", lambda name, seed, runs, **settings:
                        seen.append((name, seed, settings)) or {"pq": 0.5})
    monkeypatch.setattr(zs, "ship_median", lambda *args, **kwargs: 0)
    start = tmp_path / "maskrcnn.pt"
    zs.main(["panoptic", "--seeds", "1", "--init-from", str(start), "--runs", str(tmp_path)])
    assert seen == [("panoptic_fpn", 1, {"init_from": start})]

    class Stop(Exception):
        pass

    def capture(name, **settings):
        seen.append(settings)
        raise Stop

    monkeypatch.undo()
    monkeypatch.setattr(zs, "config_for", capture)
    with pytest.raises(Stop):
        zs.run_seed("panoptic_fpn", 1, tmp_path, init_from=start, steps=3)
    assert seen[-1]["init_from"] == start
    assert seen[-1]["command"].endswith(f"--init-from {start} --steps 3")
