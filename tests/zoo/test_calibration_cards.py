"""The calibration sections of the semantic zoo cards (``python -m segedu.zoo.calibration``).

Every shipped semantic model's card has the section, written by the recorded command. U-Net's
temperature and its "as trained" and "temperature" rows are re-scored here from the checkpoint,
as the zoo's scores are (``tests/test_zoo.py``): the first tenth of the held-out split against the
check scores, the whole split against the card with ``SEGEDU_FULL_RESCORE=1`` (the TTA rows cost
six forward passes a scene and are not re-run in CI; the TTA wrapper itself is tested in
``tests/models/semantic/test_calibration_wrappers.py``).
"""

from __future__ import annotations

import pytest

from segedu.models import get_model
from segedu.zoo import ZOO, Task
from segedu.zoo import calibration as cal
from segedu.zoo.cards import card_section_text, replace_card_section
from tests.test_zoo import FULL_RESCORE, assert_check_scores_hold

SEMANTIC = [n for n, e in ZOO.items() if e.task is Task.SEMANTIC and e.checkpoint.is_file()]
# The check scores against their record: the tolerances this test held the card to (its 3
# decimals of the temperature, 4 of mIoU and ECE). Measured 2026-11-28 on an AVX-512 AMD EPYC: the
# check scores under its own dispatch, tests/test_cross_dispatch.py's AVX2 variables and ATen's
# default kernels all came within 5e-7 of the record (its rounding to 6 decimals)
CALIBRATION_ATOL = {"temperature": 1e-3, "miou": 1e-4, "ece": 1e-4, "ece_temperature": 1e-4}


@pytest.mark.parametrize("name", SEMANTIC)
def test_every_semantic_card_has_its_calibration_section(name):
    text = ZOO[name].card.read_text()
    assert text.count(cal.SECTION) == 1, f"run `python -m segedu.zoo.calibration {name}`"
    assert f"`python -m segedu.zoo.calibration {name}`" in text
    rows = cal.card_readouts(name)
    assert list(rows) == list(cal.READOUTS)
    # the temperature changes confidences, never predictions
    assert rows["temperature"][1] == rows["as trained"][1]
    assert rows["TTA + temperature"][1] == rows["TTA"][1]


def test_unet_calibration_rescores_from_the_checkpoint():
    """U-Net's temperature fitted again on the first tenth of the validation split, and its "as
    trained" and "temperature" read-outs on the first tenth of the held-out split, are the check
    scores recorded with the checkpoint (``python -m segedu.zoo.check_scores unet_calibration``).
    With ``SEGEDU_FULL_RESCORE=1``: the temperature fitted on the whole validation split (200
    scenes' logits and the Newton steps on their 3.3 million pixels, about 11 CPU seconds) and the
    read-outs on the whole held-out split are the card's."""
    if not FULL_RESCORE:
        assert_check_scores_hold("unet_calibration", tolerance=CALIBRATION_ATOL)
        return
    rows = cal.card_readouts("unet")
    plain, scaled = cal.temperature_readouts(get_model("unet", weights="zoo").eval())
    assert scaled.temperature == pytest.approx(rows["temperature"][0], abs=1e-3)
    assert plain.miou == pytest.approx(rows["as trained"][1], abs=1e-4)
    assert plain.ece == pytest.approx(rows["as trained"][2], abs=1e-4)
    assert scaled.ece == pytest.approx(rows["temperature"][2], abs=1e-4)


def test_a_section_is_replaced_not_repeated(tmp_path):
    card = tmp_path / "card.md"
    card.write_text("# a card\n\n| **mIoU** | **0.9** |\n")
    replace_card_section(card, [cal.SECTION, "", "first"])
    replace_card_section(card, [cal.SECTION, "", "second"])
    text = card.read_text()
    assert text.count(cal.SECTION) == 1 and "second" in text and "first" not in text
    assert text.startswith("# a card\n\n| **mIoU** | **0.9** |")
    with pytest.raises(ValueError, match="heading"):
        replace_card_section(card, ["no heading"])


def test_a_section_in_the_middle_is_replaced_and_the_next_kept(tmp_path):
    """A measurement rerun replaces its own section only: the sections after it stay, and a
    heading that merely begins another one (``## A`` and ``## A: a run``) is another section."""
    card = tmp_path / "card.md"
    card.write_text("# a card\n\n## A\n\nold a\n\n## A: a run\n\nrun\n\n## B\n\nb\n")
    replace_card_section(card, ["## A", "", "new a", ""])
    assert card.read_text() == "# a card\n\n## A\n\nnew a\n\n## A: a run\n\nrun\n\n## B\n\nb\n"
    assert card_section_text(card, "## A") == "\n\nnew a\n"
    assert card_section_text(card, "## A: a run") == "\n\nrun\n"
    replace_card_section(card, ["## A: a run", "", "run again", ""])
    assert card_section_text(card, "## A") == "\n\nnew a\n"
    assert "run again" in card.read_text() and card.read_text().endswith("## B\n\nb\n")
    assert card_section_text(card, "## C") is None
