"""segedu.zoo.few_labels: the recipe of chapter 19's five runs, and their shipped checkpoints.

The tiny runs (2 steps, 24 scenes, 2 held-out scenes) test the recipe's own work: each method
writes a float16 checkpoint and a card whose scores the checkpoint gives again; a finished run
is resumed, not retrained; pseudo-labelling needs the supervised run first. The shipped
checkpoints are re-scored as the zoo's own are: the first tenth of the held-out split against
their check scores (``python -m segedu.zoo.check_scores``), the whole split against their cards
with ``SEGEDU_FULL_RESCORE=1``.
"""

import pytest
import torch

from segedu.zoo import FOLDER
from segedu.zoo.check_scores import FEW_LABEL_RUNS
from segedu.zoo.few_labels import (
    METHODS,
    FewLabelConfig,
    card_path,
    card_scores,
    card_spread,
    checkpoint_path,
    load_cam_classifier,
    load_few_label_model,
    main,
    run_seeds,
    train,
)
from segedu.zoo.scores import evaluate
from tests.test_zoo import FULL_RESCORE, assert_check_scores_hold

TINY = dict(steps=2, scenes=24, labelled=0.25, batch=4, test_scenes=2, device="cpu")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The five methods' tiny runs in one folder (supervised first: pseudo-labels start from
    it)."""
    out = tmp_path_factory.mktemp("few_labels")
    for method in METHODS:
        train(FewLabelConfig(method, out=out, work=out / "work", **TINY))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_each_run_writes_a_checkpoint_and_a_card_that_agree(runs, method):
    card = card_path(method, runs).read_text()
    assert f"python -m segedu.zoo.few_labels {method} --steps 2" in card
    assert "2 steps of batch 4" in card and "| **mIoU** |" in card
    stored = torch.load(checkpoint_path(method, runs), weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    iou = evaluate(load_few_label_model(method, runs), length=2)
    assert card_scores(method, runs)["miou"] == pytest.approx(float(iou.nanmean()), abs=5e-4)


def test_the_cards_say_which_labels_were_used(runs):
    assert "masks of 6 scenes (25 %)" in card_path("supervised", runs).read_text()
    assert "masks of all 24 scenes (100 %)" in card_path("full", runs).read_text()
    pseudo = card_path("pseudo_labels", runs).read_text()
    assert "| 1 | supervised |" in pseudo and "| 2 | round 1's student |" in pseudo
    assert (runs / "unet_fewlabels_pseudo_labels_round1.pt").is_file()
    # the teacher it started from, kept beside it (the shipped supervised may be another seed's)
    assert (runs / "unet_fewlabels_pseudo_labels_round0.pt").read_bytes() == (
        checkpoint_path("supervised", runs).read_bytes())
    assert "the student (not kept) scores" in card_path("mean_teacher", runs).read_text()
    assert "image-level labels of 24 scenes, no mask" in card_path("cam", runs).read_text()
    classifier = load_cam_classifier(runs)  # the cam run keeps its classifier for the figures
    assert classifier.cams(torch.rand(1, 3, 32, 32)).shape == (1, 6, 4, 4)


def test_a_finished_run_is_loaded_not_trained_again(runs, capsys):
    before = torch.load(checkpoint_path("full", runs), weights_only=True)
    train(FewLabelConfig("full", out=runs, work=runs / "work", **TINY))
    assert "0.0 min of training" in card_path("full", runs).read_text()
    after = torch.load(checkpoint_path("full", runs), weights_only=True)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_suffix_names_a_run_at_another_budget(runs):
    train(FewLabelConfig("supervised", suffix="_long", out=runs, work=runs / "work",
                         **{**TINY, "steps": 3}))
    card = card_path("supervised_long", runs).read_text()
    assert "python -m segedu.zoo.few_labels supervised --steps 3 --suffix _long" in card
    assert "3 steps of batch 4" in card and checkpoint_path("supervised_long", runs).is_file()
    assert "2 steps of batch 4" in card_path("supervised", runs).read_text()  # left alone


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown method 'cams'"):
        FewLabelConfig("cams")
    with pytest.raises(ValueError, match="batch must be even"):
        FewLabelConfig("supervised", batch=5)
    with pytest.raises(ValueError, match="suffix must be"):
        FewLabelConfig("supervised", suffix="-Long")
    with pytest.raises(ValueError, match="labelled must be a fraction"):
        FewLabelConfig("supervised", labelled=1.5)
    with pytest.raises(FileNotFoundError, match="run `python -m segedu.zoo.few_labels supervised"):
        train(FewLabelConfig("pseudo_labels", out=tmp_path, work=tmp_path, **TINY))


def test_the_command_line_sets_how_many_scenes_keep_their_masks(monkeypatch, tmp_path):
    """``--labelled`` reaches the run's settings (training replaced by a recorder), its card's
    command line says it, and a share that keeps fewer than two scenes is refused."""
    import segedu.zoo.few_labels.runs as runs_module

    trained = []
    monkeypatch.setattr(runs_module, "train", trained.append)
    folders = ["--out", str(tmp_path), "--work", str(tmp_path / "work")]
    assert main(["supervised", "--labelled", "0.005", "--suffix", "_scarce", *folders]) == 0
    (config,) = trained
    assert (config.labelled_count, config.run_name) == (10, "supervised_scarce")
    assert FewLabelConfig("supervised", labelled=0.005).command_line() == (
        "python -m segedu.zoo.few_labels supervised --steps 800 --labelled 0.005")
    assert "--labelled" not in FewLabelConfig("supervised").command_line()
    with pytest.raises(ValueError, match="labelled must be a fraction that keeps 2"):
        main(["supervised", "--labelled", "0.0004", *folders])


def _weights(method, folder):
    return torch.load(checkpoint_path(method, folder), weights_only=True)


def test_the_seed_sets_what_is_random_in_training(runs, tmp_path):
    """Seed 0 is the run above (the same weights to the bit when trained again elsewhere); seed 1
    starts from other weights and sees other batches, crops and noise, and its card says so."""
    again = tmp_path / "again"
    train(FewLabelConfig("mean_teacher", out=again, work=again / "work", **TINY))
    assert all(torch.equal(v, _weights("mean_teacher", again)[k])
               for k, v in _weights("mean_teacher", runs).items())
    other = tmp_path / "other"
    train(FewLabelConfig("mean_teacher", seed=1, out=other, work=other / "work", **TINY))
    differ = [k for k, v in _weights("mean_teacher", runs).items()
              if v.is_floating_point() and not torch.equal(v, _weights("mean_teacher", other)[k])]
    assert len(differ) > 10
    card = card_path("mean_teacher", other).read_text()
    assert "cosine decay to 0, seed 1" in card and "--steps 2 --seed 1" in card
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        FewLabelConfig("supervised", seed=-1)


def test_seeds_train_each_ship_the_median_and_record_the_spread(tmp_path, capsys):
    """``--seeds 0 1 2``: three runs in ``runs/seed<k>/``, the median seed's files shipped (the
    cam run's classifier with them), its card given the ``## Seeds`` section that
    :func:`card_spread` reads back; pseudo-labels of seed k start from supervised of seed k; a
    second call with the same settings finds the runs done and trains nothing, and the command
    line, which asks for the chapter's settings, refuses the tiny runs' cards."""
    runs, shipped = tmp_path / "runs", tmp_path / "shipped"
    tiny = ["--steps", "2", "--runs", str(runs), "--out", str(shipped), "--work",
            str(tmp_path / "work")]

    def seeds(method):  # the CLI, on the tiny data
        config = FewLabelConfig(method, out=shipped, work=tmp_path / "work", **TINY)
        return run_seeds(config, [0, 1, 2], runs, folder=shipped)

    median = first = seeds("supervised")
    spread = card_spread("supervised", shipped)
    assert spread.seeds == (0, 1, 2) and spread.shipped == median
    per_seed = [card_scores("supervised", runs / f"seed{s}")["miou"] for s in (0, 1, 2)]
    assert spread.scores["miou"] == tuple(round(v, 3) for v in per_seed)
    assert sorted(per_seed)[1] == per_seed[median] or len(set(per_seed)) < 3
    assert all(torch.equal(v, _weights("supervised", runs / f"seed{median}")[k])
               for k, v in _weights("supervised", shipped).items())
    assert "| miou |" in card_path("supervised", shipped).read_text()
    seeds("pseudo_labels")  # each seed's teacher: that seed's supervised model
    for s in (0, 1, 2):
        assert (runs / f"seed{s}" / "unet_fewlabels_pseudo_labels_round0.pt").read_bytes() == (
            checkpoint_path("supervised", runs / f"seed{s}").read_bytes())
    median = seeds("cam")
    assert (shipped / "unet_fewlabels_cam_classifier.pt").read_bytes() == (
        runs / f"seed{median}" / "unet_fewlabels_cam_classifier.pt").read_bytes()
    capsys.readouterr()
    assert seeds("supervised") == first
    assert "wrote" not in capsys.readouterr().out  # done before: scored from the cards, not trained
    # the command line asks for 5 % of 2000 scenes; the runs' cards record 25 % of 24
    with pytest.raises(ValueError, match=r"the card: - labels used: masks of 6 scenes \(25 %\)\n"
                                         r"  asked:    - labels used: masks of 100 scenes \(5 %\)"):
        main(["supervised", *tiny, "--seeds", "0", "1", "2"])
    with pytest.raises(ValueError, match="few_labels full --seeds 0 1 2"):
        card_spread("full", runs / "seed0")  # a single run's card has no spread
    for bad in (["--seeds", "1"], ["--seeds", "1", "1"], ["--seeds", "0", "1", "--seed", "2"]):
        with pytest.raises(SystemExit):
            main(["supervised", *tiny, *bad])


def test_a_finished_seed_counts_only_for_the_settings_its_card_records(runs, tmp_path,
                                                                      monkeypatch):
    """A seed whose card is in the runs folder is done only for the settings that card records:
    asked with another share of masks, or another threshold, ``run_seeds`` refuses it with both
    lines, and trains nothing; a card that records no settings is refused as such."""
    import shutil

    import segedu.zoo.few_labels.runs as runs_module

    trained = []
    monkeypatch.setattr(runs_module, "train", trained.append)
    folder = tmp_path / "runs"
    for seed in (0, 1):  # seed 0's tiny runs (labelled 0.25) as both seeds' finished runs
        (folder / f"seed{seed}").mkdir(parents=True)
        for method in ("supervised", "pseudo_labels"):
            shutil.copy(card_path(method, runs), folder / f"seed{seed}")
        shutil.copy(checkpoint_path("supervised", runs), folder / f"seed{seed}")

    def seeds(method, **changed):
        config = FewLabelConfig(method, out=tmp_path / "shipped", work=tmp_path / "work",
                                **{**TINY, **changed})
        return run_seeds(config, [0, 1], folder, folder=tmp_path / "shipped")

    with pytest.raises(ValueError, match=r"(?s)trained with other settings.*the card: - labels "
                       r"used: masks of 6 scenes \(25 %\)\n  asked:    - labels used: masks of "
                       r"12 scenes \(50 %\)"):
        seeds("supervised", labelled=0.5)
    # a setting that no other line shows: the card's line of every setting
    with pytest.raises(ValueError, match=r"(?s)the card: - settings: .*threshold 0\.9\n"
                                         r"  asked:    - settings: .*threshold 0\.8"):
        seeds("pseudo_labels", threshold=0.8)
    card_path("supervised", folder / "seed0").write_text("# a card\n\n| **mIoU** | **0.5** |\n")
    with pytest.raises(ValueError, match="records no settings"):
        seeds("supervised")
    assert trained == []


# the five runs at the chapter's budget, the same at three times the steps, and the baseline and
# two semi-supervised methods with the masks of 2 scenes (--labelled 0.001 --suffix _2scenes)
LONG = [f"{m}_long" for m in METHODS]  # the same runs at three times the steps
SCARCE = [f"{m}_2scenes" for m in ("supervised", "pseudo_labels", "mean_teacher")]
SHIPPED = [m for m in (*METHODS, *LONG, *SCARCE) if checkpoint_path(m).is_file()]


@pytest.mark.parametrize("method", SHIPPED)
def test_shipped_checkpoint_is_small_float16_and_loads(method):
    assert checkpoint_path(method).stat().st_size < 2 * 2**20  # the U-Net in float16: ~1 MB
    stored = torch.load(checkpoint_path(method), weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    load_few_label_model(method)
    assert "python -m segedu.zoo.few_labels" in card_path(method).read_text()


# the baseline, the ceiling, the weakly supervised run and the three runs with 2 masks are
# re-scored, the others only loaded: on every run the first tenth of the held-out split against
# the check scores recorded with the checkpoint (segedu.zoo.check_scores, about 1 CPU s a model;
# within test_zoo's 0.005, and measured within 5e-7 of the record under the AVX-512, AVX2 and ATen
# default dispatches, pseudo_labels_2scenes too), the whole split (about 8 CPU s a model) against
# the card with SEGEDU_FULL_RESCORE=1
@pytest.mark.parametrize("method", [m for m in FEW_LABEL_RUNS if m in SHIPPED])
def test_shipped_checkpoint_scores_what_its_card_says(method):
    if not FULL_RESCORE:
        assert_check_scores_hold(f"unet_fewlabels_{method}")
        return
    miou = float(evaluate(load_few_label_model(method)).nanmean())
    recorded = card_scores(method)["miou"]
    assert abs(miou - recorded) < 0.005, (
        f"the card says mIoU {recorded}, the checkpoint gives {miou:.4f}")


def test_every_run_is_shipped():
    assert SHIPPED == [*METHODS, *LONG, *SCARCE]
    for run in ("pseudo_labels", "pseudo_labels_long", "pseudo_labels_2scenes"):
        assert (FOLDER / f"unet_fewlabels_{run}_round0.pt").is_file()
        assert (FOLDER / f"unet_fewlabels_{run}_round1.pt").is_file()
    assert (FOLDER / "unet_fewlabels_cam_classifier.pt").is_file()


@pytest.mark.parametrize("run", SCARCE)
def test_the_scarce_runs_learnt_from_the_masks_of_two_scenes(run):
    """Chapter 19's setting where the labels limit: each card's command and labels say 2 masks,
    and its seeds are the three the chapter's mean ± sd is over."""
    card = card_path(run).read_text()
    assert "--labelled 0.001 --suffix _2scenes --seeds 0 1 2" in card
    assert "- labels used: masks of 2 scenes (0.1 %)" in card
    assert card_spread(run).seeds == (0, 1, 2)
