"""segedu.zoo: the shipped checkpoints load, are small, and score what their model cards say."""

import re

import pytest
import torch

from segedu.models import get_model
from segedu.zoo import ZOO
from segedu.zoo.train import evaluate
from segedu.zoo.train import main as train_main

SHIPPED = [name for name, entry in ZOO.items() if entry.checkpoint.is_file()]


def test_the_zoo_has_the_unet():
    assert "unet" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_checkpoint_is_small_float16_and_scores_what_its_card_says(name):
    entry = ZOO[name]
    assert entry.checkpoint.stat().st_size < 10 * 2**20, "a zoo checkpoint stays under 10 MB"
    stored = torch.load(entry.checkpoint, weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    card = entry.card.read_text()
    recorded = float(re.search(r"\*\*mIoU\*\* \| \*\*([0-9.]+)\*\*", card).group(1))
    assert "python -m segedu.zoo.train" in card
    # the held-out split again, from the float16 checkpoint: the card's number, up to rounding
    model = get_model(name, weights="zoo")
    miou = float(evaluate(model, torch.device("cpu")).nanmean())
    assert abs(miou - recorded) < 0.005, f"the card says mIoU {recorded}, the checkpoint gives {miou:.4f}"


def test_zoo_weights_keep_the_trained_arguments():
    with pytest.raises(ValueError, match="was trained with"):
        get_model("unet", weights="zoo", width=32)
    with pytest.raises(ValueError, match="segedu.zoo has no checkpoint for 'segnet'"):
        get_model("segnet", weights="zoo")


def test_training_command_writes_a_checkpoint_and_a_card(tmp_path):
    assert train_main(["unet", "--steps", "2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "unet_scenes.pt").is_file()
    card = (tmp_path / "unet_scenes.md").read_text()
    assert "2 steps" in card and "| **mIoU** |" in card
