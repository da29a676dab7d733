"""segedu.zoo.few_labels: the recipe of chapter 19's five runs, and their shipped checkpoints.

The tiny runs (2 steps, 24 scenes, 2 held-out scenes) test the recipe's own work: each method
writes a float16 checkpoint and a card whose scores the checkpoint gives again; a finished run
is resumed, not retrained; pseudo-labelling needs the supervised run first. The shipped
checkpoints are re-scored on the whole held-out split, as the zoo's own are.
"""

import pytest
import torch

from segedu.zoo import FOLDER
from segedu.zoo.few_labels import (
    METHODS,
    FewLabelConfig,
    card_path,
    card_scores,
    checkpoint_path,
    load_cam_classifier,
    load_few_label_model,
    train,
)
from segedu.zoo.scores import evaluate

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


# the five runs at the chapter's budget, and two of them at three times the steps
LONG = [f"{m}_long" for m in METHODS]  # the same runs at three times the steps
SHIPPED = [m for m in (*METHODS, *LONG) if checkpoint_path(m).is_file()]


@pytest.mark.parametrize("method", SHIPPED)
def test_shipped_checkpoint_is_small_float16_and_loads(method):
    assert checkpoint_path(method).stat().st_size < 2 * 2**20  # the U-Net in float16: ~1 MB
    stored = torch.load(checkpoint_path(method), weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    load_few_label_model(method)
    assert "python -m segedu.zoo.few_labels" in card_path(method).read_text()


# re-scoring costs about 4 s a model on the 500 held-out scenes (a quiet machine, one thread):
# the baseline, the ceiling and the weakly supervised run are re-scored, the others only loaded
@pytest.mark.parametrize("method", [m for m in ("supervised", "full", "cam") if m in SHIPPED])
def test_shipped_checkpoint_scores_what_its_card_says(method):
    miou = float(evaluate(load_few_label_model(method)).nanmean())
    recorded = card_scores(method)["miou"]
    assert abs(miou - recorded) < 0.005, (
        f"the card says mIoU {recorded}, the checkpoint gives {miou:.4f}")


def test_every_run_is_shipped():
    assert SHIPPED == [*METHODS, *LONG]
    assert (FOLDER / "unet_fewlabels_pseudo_labels_round1.pt").is_file()
    assert (FOLDER / "unet_fewlabels_cam_classifier.pt").is_file()
