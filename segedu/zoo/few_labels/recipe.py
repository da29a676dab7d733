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
from ..cards import card_head, where
from ..recipe import run_recipe
from ..scores import evaluate as class_iou
from ..scores import scene_tensors
from .config import UNET, FewLabelConfig, card_path
from .methods import TRAIN

__all__ = ["LABELS", "SETTINGS", "train", "train_method", "few_label_card", "card_settings",
           "card_scores"]

LABELS = {
    "supervised": "masks of {known} scenes ({percent:g} %)",
    "pseudo_labels": "masks of {known} scenes ({percent:g} %) + {rest} unlabelled scenes",
    "mean_teacher": "masks of {known} scenes ({percent:g} %) + {rest} unlabelled scenes",
    "full": "masks of all {total} scenes (100 %)",
    "cam": "image-level labels of {total} scenes, no mask",
}
# The fields of FewLabelConfig that decide a run's result: every method's, then each method's own
SETTINGS = ("steps", "batch", "crop", "lr", "scenes", "labelled", "test_scenes", "seed")
METHOD_SETTINGS = {"pseudo_labels": ("rounds", "threshold"),
                   "mean_teacher": ("consistency", "rampup", "ema_max", "noise"),
                   "cam": ("cam_threshold",)}


def train(config: FewLabelConfig) -> nn.Module:
    """Run ``config.method`` through :func:`segedu.zoo.recipe.run_recipe` (:func:`train_method`,
    scored on the held-out split, :func:`few_label_card`); write its float16 checkpoint and card
    to ``config.out``; return the model."""
    if config.device in (None, "cpu"):
        torch.set_num_threads(1)  # the recorded runs: one thread
    return run_recipe(config, train=train_method, card=few_label_card,
                      score=lambda model, device: _scores(model, config.test_scenes))


def train_method(model: nn.Module, config: FewLabelConfig, device: torch.device) -> dict:
    """Draw the scenes, train ``config.method``'s networks (phase by phase, each resumable) and
    put the one it keeps into ``model``; return the run's record for the card (``steps``,
    ``minutes``, ``data_minutes``, the method's ``notes`` and ``tables``)."""
    start = time.perf_counter()
    images, labels = scene_tensors(seed=0, length=config.scenes)  # (L, 3, S, S), (L, S, S)
    labels = labels.to(torch.uint8)  # 8 times less memory than int64
    data_minutes = (time.perf_counter() - start) / 60
    known = config.scenes if config.method == "full" else config.labelled_count
    config.phase_dir.mkdir(parents=True, exist_ok=True)
    kept, minutes, notes, tables = TRAIN[config.method](config, images, labels, known)
    model.load_state_dict(kept.state_dict())  # the network the method keeps (a teacher...)
    return {"steps": config.steps, "minutes": minutes, "data_minutes": data_minutes,
            "notes": notes, "tables": tables}


def _scores(model: nn.Module, length: int) -> dict[str, float]:
    """The held-out IoU of each class and ``"miou"`` (on the CPU, as the recorded runs)."""
    iou = class_iou(model, "cpu", length=length)
    return {**dict(zip(SyntheticScenes.classes, iou.tolist(), strict=True)),
            "miou": float(iou.nanmean())}


def card_settings(config: FewLabelConfig) -> dict[str, str]:
    """The lines of a run's card that record its settings, by kind: ``"title"`` (the method),
    ``"labels"``, ``"budget"`` (steps, batch, crop, learning rate, seed), ``"held_out"`` and
    ``"settings"`` (every field of :data:`SETTINGS` and the method's own, ``name value``; the
    cards written before this line existed lack it). :func:`few_label_card` writes them; a run
    asked for again compares them with the card it finds (:func:`~.runs.same_settings`)."""
    labels_used = LABELS[config.method].format(known=config.labelled_count,
                                               rest=config.scenes - config.labelled_count,
                                               total=config.scenes,
                                               percent=100 * config.labelled)
    names = (*SETTINGS, *METHOD_SETTINGS.get(config.method, ()))
    return {"title": f"# Few labels: `{config.method}` U-Net on synthetic scenes",
            "labels": f"- labels used: {labels_used}",
            "budget": f"- budget (each network): {config.budget()}; cross-entropy + soft Dice",
            "held_out": f"- held-out split: {config.test_scenes} scenes from seed 1, never seen "
                        "in training",
            "settings": "- settings: " + ", ".join(f"{name} {getattr(config, name)}"
                                                   for name in names)}


def few_label_card(config: FewLabelConfig, model: nn.Module, device: torch.device, run: dict,
                   scores: dict[str, float]) -> list[str]:
    """The card of a few-label run: how it was trained, the labels it used, the held-out IoU."""
    lines = card_settings(config)
    return [*card_head(lines["title"].removeprefix("# "), UNET, model),
            f"- trained {datetime.date.today()} with `{config.command_line()}` on "
            f"{where('cpu')}: {run['minutes']:.1f} min of training (and "
            f"{run['data_minutes']:.1f} min to draw the data)",
            lines["labels"], lines["budget"], lines["settings"], *run["notes"], lines["held_out"],
            "", "| class | IoU |", "| --- | ---: |",
            *[f"| {n} | {scores[n]:.3f} |" for n in SyntheticScenes.classes],
            f"| **mIoU** | **{scores['miou']:.3f}** |", "", *run["tables"]]


def card_scores(method: str, folder: Path = FOLDER) -> dict[str, float]:
    """The held-out IoU per class and ``"miou"`` that a run's card records."""
    text = card_path(method, folder).read_text()
    scores = {name: float(re.search(rf"^\| {name} \| ([0-9.]+) \|$", text, re.M).group(1))
              for name in SyntheticScenes.classes}
    scores["miou"] = float(re.search(r"\*\*mIoU\*\* \| \*\*([0-9.]+)\*\*", text).group(1))
    return scores
