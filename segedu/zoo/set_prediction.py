"""The set-prediction family's recipe: Mask2Former and EoMT (:mod:`segedu.zoo.panoptic`) and
OneFormer (:mod:`segedu.zoo.oneformer`), one :class:`~segedu.zoo.Task` and one configuration
(:class:`~segedu.zoo.panoptic.Mask2FormerConfig`).

The three share the data, the set criterion, the optimiser and the held-out split; OneFormer adds
its own: a task drawn per image, the task's targets, the text lists and the contrastive loss
(training), and the semantic task beside the panoptic one (score). Each step below goes to
OneFormer's piece for a :class:`~segedu.models.universal.oneformer.OneFormer` and to
Mask2Former's for the others.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..models.universal.oneformer import OneFormer
from . import Task
from .cards import CardText
from .oneformer import evaluate_oneformer, oneformer_card, train_oneformer
from .panoptic import (
    Mask2FormerConfig,
    evaluate_mask2former,
    set_prediction_card,
    train_mask2former,
)
from .recipe import step_recipe
from .scores import TEST_SCENES

__all__ = ["train_model", "evaluate", "card", "RECIPE"]


def train_model(model: torch.nn.Module, config: Mask2FormerConfig, device: torch.device,
                log: Callable[[str], None] = print) -> dict[str, float]:
    """:func:`~segedu.zoo.oneformer.train_oneformer` or
    :func:`~segedu.zoo.panoptic.train_mask2former`: the run's record."""
    train = train_oneformer if isinstance(model, OneFormer) else train_mask2former
    return train(model, config, device, log=log)


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> dict[str, float]:
    """:func:`~segedu.zoo.oneformer.evaluate_oneformer` (PQ and the semantic task's IoU) or
    :func:`~segedu.zoo.panoptic.evaluate_mask2former` (PQ) on the first ``length`` held-out
    scenes."""
    score = evaluate_oneformer if isinstance(model, OneFormer) else evaluate_mask2former
    return score(model, device, length=length)


def card(config: Mask2FormerConfig, model: torch.nn.Module, device: torch.device, run: dict,
         score: dict) -> CardText:
    """The card's words of the model's own recipe."""
    words = oneformer_card if isinstance(model, OneFormer) else set_prediction_card
    return words(config, model, device, run, score)


RECIPE = step_recipe(Task.SET_PREDICTION, Mask2FormerConfig, train=train_model,
                     evaluate=evaluate, card=card, test_length="test_scenes")
