"""The zoo's tiny CLIPSeg (segedu.zoo.clipseg): its toy vocabulary, a run that resumes
exactly, the recipe's checkpoint and card, and the shipped checkpoint re-scored as the zoo's others
are (``tests/test_zoo.py``): the first tenth of the held-out split against its check scores, the
whole split against its card with ``SEGEDU_FULL_RESCORE=1``."""

from __future__ import annotations

import re

import pytest
import torch

import segedu.zoo.recipe
from segedu.models import get_model
from segedu.zoo import ZOO, Task
from segedu.zoo import clipseg as tp
from tests.test_zoo import FULL_RESCORE, assert_check_scores_hold

torch.set_num_threads(1)
ENTRY = ZOO["clipseg_tiny"]


def test_the_toy_vocabulary_reads_every_phrasing():
    assert len(tp.VOCABULARY) == ENTRY.kwargs["vocab_size"] == 13
    for phrasing in tp.PHRASINGS:
        texts = tp.prompt_texts(phrasing)
        input_ids, attention_mask = tp.class_prompts(phrasing)
        assert tp.VOCABULARY.decode(input_ids) == texts
        # the end-of-text token is the highest id, at the last real position of every prompt
        last = attention_mask.sum(dim=1) - 1
        assert torch.equal(input_ids.argmax(dim=1), last)
        assert input_ids.shape[1] <= get_model("clipseg_tiny").config.context_length
    with pytest.raises(ValueError, match="phrasing must be one of"):
        tp.prompt_texts("an {}")


def _config(out, **settings):
    return tp.ClipSegConfig("clipseg_tiny", **{"steps": 3, "batch": 2, "scenes": 8,
                                                  "test_scenes": 2, "save_every": 1, "out": out,
                                                  **settings})


def test_an_interrupted_run_resumes_exactly(tmp_path, interrupt_training):
    """Three steps in one go, or two, an interruption, and the third after a restart: the same
    weights (the resume file holds model, optimizer and schedule; each step's scenes and
    phrasings depend only on the seed and the step)."""
    whole = _config(tmp_path / "whole")
    whole.out.mkdir()
    _, model = whole.start()
    tp.train_clipseg(model, whole, torch.device("cpu"), log=None)

    split = _config(tmp_path / "split")
    split.out.mkdir()
    interruption = interrupt_training(segedu.zoo.recipe, after=1)
    _, first = split.start()
    with pytest.raises(KeyboardInterrupt):
        tp.train_clipseg(first, split, torch.device("cpu"), log=None)
    interruption.undo()
    assert torch.load(split.resume_path, weights_only=True)["step"] == 2
    _, resumed = split.start()
    tp.train_clipseg(resumed, split, torch.device("cpu"), log=None)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=1e-6)


def test_the_recipe_writes_a_checkpoint_and_a_card(tmp_path):
    config = _config(tmp_path, steps=2)
    model = tp.train(config)
    card = config.card_path.read_text()
    assert config.checkpoint_path.is_file() and "toy word vocabulary of 13 ids" in card
    for metric in ("iou_circle", "miou", "miou_a_picture_of_the_<class>", "miou_argmax"):
        assert f"| {metric} |" in card
    assert set(tp.evaluate(model, length=2)) >= {"miou", "miou_argmax"}
    with pytest.raises(ValueError, match="'a \\{\\}' included"):
        tp.evaluate_text_prompts(model, length=2, phrasings=("the {}",))


@pytest.mark.skipif(not ENTRY.checkpoint.is_file(), reason="clipseg_tiny is not shipped yet")
def test_checkpoint_is_float16_and_scores_what_its_card_says():
    assert ENTRY.task is Task.TEXT_PROMPTS
    assert ENTRY.checkpoint.stat().st_size < 4 * 2**20
    stored = torch.load(ENTRY.checkpoint, weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    card = ENTRY.card.read_text()
    # the command that trained it: one run (segedu.zoo.train) or the median of the seeds
    assert re.search(r"python -m segedu\.zoo\.(train clipseg_tiny|seeds text_prompts --names "
                     r"clipseg_tiny)", card)
    if not FULL_RESCORE:  # every phrasing's scores on the first tenth, against the record
        assert_check_scores_hold("clipseg_tiny")
        return
    split = int(re.search(r"held-out split: (\d+) scenes", card).group(1))
    # the card's metrics of the phrasing "a <class>" again, from the float16 checkpoint on the
    # CPU, up to rounding (the other phrasings' rows cost three more passes: not re-scored here)
    model = get_model("clipseg_tiny", weights="zoo")
    score = tp.evaluate_text_prompts(model, length=split, phrasings=("a {}",))
    for metric, value in score.items():
        recorded = float(re.search(rf"\| {re.escape(metric)} \| ([0-9.]+) \|", card).group(1))
        assert abs(value - recorded) < 0.005, (
            f"the card says {metric} {recorded}, the checkpoint gives {value:.4f}")
