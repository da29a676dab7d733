"""The zoo's held-out split and how every semantic zoo model is scored on it (cards and book).

The held-out split is 500 synthetic scenes of 128 x 128 pixels from seed 1 (training uses seed 0):
``held_out(length)`` gives its first ``length`` scenes. :func:`evaluate` gives a model's per-class
IoU there, accumulated over the whole split (``segedu.metrics.iou_per_class``); :func:`compare`
scores every shipped zoo model the same way, with its parameter count and its inference speed.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch

from ..data import SyntheticScenes
from ..metrics import iou_per_class
from ..models import get_model
from . import ZOO, Task

__all__ = [
    "SIZE", "TEST_SCENES", "held_out", "scene_tensors", "evaluate", "ZooScore", "compare",
    "images_per_second",
]

SIZE, TEST_SCENES = 128, 500


def _semantic(image, target):
    return image.as_subclass(torch.Tensor), target["semantic"]


def held_out(length: int = TEST_SCENES) -> SyntheticScenes:
    """The first ``length`` scenes of the held-out split, as ``(image (3, S, S), semantic
    (S, S))``."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    return SyntheticScenes(size=SIZE, length=length, seed=1, transforms=_semantic)


def scene_tensors(*, seed: int, length: int, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Scenes ``0..length-1`` of ``seed`` drawn once: images (L, 3, S, S) in [0, 1], labels
    (L, S, S) int64."""
    scenes = SyntheticScenes(size=size, length=length, seed=seed, transforms=_semantic)
    images = torch.empty(length, 3, size, size)
    labels = torch.empty(length, size, size, dtype=torch.int64)
    for i in range(length):
        images[i], labels[i] = scenes[i]
    return images, labels


@functools.lru_cache(maxsize=2)
def _held_out_tensors(length: int) -> tuple[torch.Tensor, torch.Tensor]:
    held_out(length)  # checks the length
    return scene_tensors(seed=1, length=length)


@torch.no_grad()
def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> torch.Tensor:
    """Per-class IoU (6,) of ``model`` (moved to ``device``) on the first ``length`` held-out scenes
    (all 500 by default).

    The IoU is accumulated over the whole split (one confusion matrix), not averaged per image.
    """
    model.to(device).eval()  # scored where the inputs go (a model loaded on the CPU, say)
    images, labels = _held_out_tensors(length)  # drawn once per length, then reused
    preds = [model(images[i:i + 50].to(device))["out"].argmax(1).cpu()  # a semantic model's logits
             for i in range(0, length, 50)]
    return iou_per_class(torch.cat(preds), labels, len(SyntheticScenes.classes))


@torch.no_grad()
def images_per_second(model: torch.nn.Module, device: torch.device | str = "cpu", *,
                      batch: int = 32,
                      repeats: int = 3) -> float:
    """Inference throughput on a batch of S x S images: the best of ``repeats`` timed batches."""
    model.eval()
    device = torch.device(device)
    images = torch.rand(batch, 3, SIZE, SIZE, device=device)
    model(images)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(images)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return batch / best


@dataclass(frozen=True)
class ZooScore:
    """One zoo model on the held-out split."""

    name: str
    parameters: int
    iou: torch.Tensor  # (6,) per class
    images_per_second: float

    @property
    def miou(self) -> float:
        return float(self.iou.nanmean())


def compare(names: list[str] | None = None, *, length: int = TEST_SCENES,
            device: torch.device | str = "cpu",
            ) -> list[ZooScore]:
    """Score the semantic zoo models ``names`` (default: every shipped one) on the same held-out
    scenes (the instance models are scored by :func:`segedu.zoo.instances.evaluate_instances`)."""
    if names is None:
        names = [name for name, entry in ZOO.items()
                 if entry.checkpoint.is_file() and entry.task is Task.SEMANTIC]
    scores = []
    for name in names:
        model = get_model(name, weights="zoo").to(device)
        scores.append(ZooScore(name=name, parameters=sum(p.numel() for p in model.parameters()),
                               iou=evaluate(model, device, length=length),
                               images_per_second=images_per_second(model, device)))
    return scores
