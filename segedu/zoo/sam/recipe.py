"""The recipe of the zoo's SAM: its configuration, what it trains with and its card (the runner,
:func:`segedu.zoo.recipe.run_recipe`, does the rest; the package gathers them as its
``RECIPE``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ...data import SyntheticScenes
from .. import Task
from ..cards import CardText, metric_table
from ..recipe import TrainConfig, Training, adamw_cosine, train_run
from ..scores import SIZE
from .data import EVAL_SCENES, TRAIN_SCENES, scene
from .forward import image_step
from .scoring import METRIC_NAMES

__all__ = ["SamConfig", "sam_training", "train_sam", "sam_card"]


@dataclass
class SamConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus SAM's recipe (module docstring).

    Args:
        scenes: training scenes (seed 0, drawn on the fly); test_scenes: held-out scenes scored.
        prompts: targets per image per step; rounds: the first prompt, then ``rounds - 1``
            correction rounds.
        warmup: warm-up steps from 1 % of ``lr`` (a fifth of a shorter run).
        weight_decay: AdamW's. The base's ``seed`` also draws every random choice of the run
            (order, prompts).
    """

    tasks = (Task.PROMPTABLE,)
    positive = ("scenes", "test_scenes", "prompts", "rounds")

    scenes: int = TRAIN_SCENES
    test_scenes: int = EVAL_SCENES
    prompts: int = 8
    rounds: int = 2
    warmup: int = 250
    weight_decay: float = 0.1


def _scene_batches(scenes: SyntheticScenes, batch: int, order: torch.Generator,
                   queue: list[int]) -> Iterator[tuple[tuple[torch.Tensor, ...],
                                                       tuple[torch.Tensor, ...]]]:
    """Endless batches ``(images, segments)`` of ``batch`` scenes, in an order shuffled anew
    (from ``order``) at each pass over the scenes; ``queue`` holds the rest of the pass (kept,
    with ``order``, in the resume file: a resumed run goes on in the same order)."""
    while True:
        while len(queue) < batch:
            queue += torch.randperm(len(scenes), generator=order).tolist()
        indices = queue[:batch]
        del queue[:batch]
        images, segments = zip(*(scene(scenes, i) for i in indices), strict=True)
        yield images, segments


def sam_training(model: torch.nn.Module, config: SamConfig, device: torch.device) -> Training:
    """What SAM trains with (module docstring for the recipe): scenes of seed 0 drawn on the fly
    in an order shuffled at each pass, ``config.prompts`` targets per image decoded in
    ``config.rounds`` rounds, AdamW with a warm-up (``config.warmup``, or a fifth of a shorter
    run) and a cosine decay, gradients clipped at norm 1, bfloat16 autocast on a GPU. Every
    random choice (order, prompts) comes from ``config.seed``, and both generators are kept in
    the resume file, so a stopped run goes on as if it never stopped."""
    warmup = min(config.warmup, config.steps // 5)  # a short run warms up for a fifth of it
    model.to(device).train()
    data = SyntheticScenes(size=SIZE, length=config.scenes, seed=0)
    order = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer, scheduler = adamw_cosine(model, config.lr, config.steps,
                                        weight_decay=config.weight_decay, warmup=warmup)
    queue: list[int] = []  # the rest of this pass's order

    def compute_loss(batch):
        images, segments = batch
        # encode every image once
        embeddings = model.embed_images(torch.stack(images).to(device) * 255)  # SAM takes 0..255
        # decode its prompts, image by image (the decoder repeats one embedding per prompt)
        per_image = [image_step(model, e[None], s, rng, prompts=config.prompts,
                                rounds=config.rounds)
                     for e, s in zip(embeddings, segments, strict=True) if len(s)]
        losses = {k: sum(p[k] for p in per_image) / len(per_image)
                  for k in ("total", "mask", "focal", "dice", "iou")}
        return losses.pop("total"), losses

    # the order and the prompts' generator are kept in the resume file: a resumed run goes on
    # from them (so its batches start where they are, none is drawn twice)
    return Training(compute_loss, lambda first: _scene_batches(data, config.batch, order, queue),
                    optimizer, scheduler, grad_clip=1.0, amp=True,
                    state={"order": order, "prompts": rng, "queue": queue},
                    facts={"warmup": warmup})


def train_sam(model: torch.nn.Module, config: SamConfig, device: torch.device,
              log: Callable[[str], None] | None = print) -> dict[str, float]:
    """Train a SAM (:func:`sam_training`) through :func:`~segedu.zoo.recipe.train_run`, which
    resumes a stopped run. Returns ``steps``, ``warmup``, ``minutes`` and the last step's
    losses ``loss``, ``mask``, ``focal``, ``dice``, ``iou``."""
    run = train_run(config, model, device, sam_training(model, config, device), log=log)
    model.eval()
    return run


def sam_card(config: SamConfig, model: torch.nn.Module, device: torch.device, run: dict,
          score: dict) -> CardText:
    autocast = ", bfloat16 autocast" if device.type == "cuda" else ""
    recipe = (
        f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0, "
        f"drawn on the fly), {config.prompts} targets per image (thing instances and connected "
        "stuff regions), a point (uniform in the mask, 3 masks, the lowest-loss one trained) or "
        "a noisy box (std 10 % of the side, at most 2.5 px), then one correction round (a click "
        "in the error region plus the previous logits as mask prompt); focal + Dice 20:1 on the "
        f"up-sampled logits, IoU head MSE; AdamW {config.lr:g} (weight decay "
        f"{config.weight_decay:g}), {run['warmup']} warm-up steps then cosine decay, gradients "
        f"clipped at norm 1{autocast}")
    held_out = (
        f"{config.test_scenes} scenes from seed 1, never seen in training; every segment (thing "
        "instance or connected stuff region of 32 pixels or more) prompted by one click at its "
        "most interior pixel (distance-transform maximum) or by its exact box; mean IoU over "
        "segments")
    return CardText(f"Zoo model `{config.entry.model}` on synthetic scenes (promptable "
                    "segmentation)", recipe, held_out, metric_table(score, METRIC_NAMES))

