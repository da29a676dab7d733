"""A few-label run from its data to its checkpoint and card (:mod:`segedu.zoo.few_labels`)."""

from __future__ import annotations

import datetime
import re
import time
from pathlib import Path

import torch
from torch import nn

from ...data import SyntheticScenes
from .. import FOLDER
from ..cards import card_head, where, write_card
from ..float16 import save_float16
from ..scores import evaluate as class_iou
from ..scores import scene_tensors
from .config import UNET, FewLabelConfig, card_path, checkpoint_path
from .methods import TRAIN

__all__ = ["LABELS", "train", "card_scores"]

LABELS = {
    "supervised": "masks of {known} scenes ({percent:g} %)",
    "pseudo_labels": "masks of {known} scenes ({percent:g} %) + {rest} unlabelled scenes",
    "mean_teacher": "masks of {known} scenes ({percent:g} %) + {rest} unlabelled scenes",
    "full": "masks of all {total} scenes (100 %)",
    "cam": "image-level labels of {total} scenes, no mask",
}


def train(config: FewLabelConfig) -> nn.Module:
    """Run ``config.method``; write its float16 checkpoint and card to ``config.out``; return
    the model."""
    if config.device in (None, "cpu"):
        torch.set_num_threads(1)  # the recorded runs: one thread
    start = time.perf_counter()
    images, labels = scene_tensors(seed=0, length=config.scenes)  # (L, 3, S, S), (L, S, S)
    labels = labels.to(torch.uint8)  # 8 times less memory than int64
    data_minutes = (time.perf_counter() - start) / 60
    known = config.labelled_count
    if config.method == "full":
        known = config.scenes
    config.phase_dir.mkdir(parents=True, exist_ok=True)
    model, minutes, notes, tables = TRAIN[config.method](config, images, labels, known)
    iou = class_iou(model, "cpu", length=config.test_scenes)
    path = save_float16(model, checkpoint_path(config.run_name, config.out))
    names = SyntheticScenes.classes
    labels_used = LABELS[config.method].format(known=config.labelled_count,
                                               rest=config.scenes - config.labelled_count,
                                               total=config.scenes,
                                               percent=100 * config.labelled)
    card = [*card_head(f"Few labels: `{config.method}` U-Net on synthetic scenes", UNET, model),
            f"- trained {datetime.date.today()} with `{config.command_line()}` on "
            f"{where('cpu')}: {minutes:.1f} min of training (and {data_minutes:.1f} min to draw "
            "the data)",
            f"- labels used: {labels_used}",
            f"- budget (each network): {config.budget()}; cross-entropy + soft Dice",
            *notes,
            f"- held-out split: {config.test_scenes} scenes from seed 1, never seen in training",
            "", "| class | IoU |", "| --- | ---: |",
            *[f"| {n} | {v:.3f} |" for n, v in zip(names, iou.tolist(), strict=True)],
            f"| **mIoU** | **{float(iou.nanmean()):.3f}** |", "", *tables]
    write_card(card_path(config.run_name, config.out), card)
    print(f"wrote {path}")
    return model


def card_scores(method: str, folder: Path = FOLDER) -> dict[str, float]:
    """The held-out IoU per class and ``"miou"`` that a run's card records."""
    text = card_path(method, folder).read_text()
    scores = {name: float(re.search(rf"^\| {name} \| ([0-9.]+) \|$", text, re.M).group(1))
              for name in SyntheticScenes.classes}
    scores["miou"] = float(re.search(r"\*\*mIoU\*\* \| \*\*([0-9.]+)\*\*", text).group(1))
    return scores
