"""The recipe of the zoo's SAM: its configuration, the training loop and ``train`` (checkpoint and
card), for ``python -m segedu.zoo.train sam_tiny``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ...data import SyntheticScenes
from ...engine import WarmupCosine, train_steps
from .. import Task
from ..cards import metric_table, trained_line, write_model_card
from ..float16 import save_float16
from ..recipe import TrainConfig
from ..scores import SIZE
from .data import EVAL_SCENES, TRAIN_SCENES, scene
from .forward import image_step
from .scoring import METRIC_NAMES, evaluate

__all__ = ["SamConfig", "train_sam", "train"]


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


def _scene_batches(scenes: SyntheticScenes, batch: int, order: torch.Generator
                   ) -> Iterator[tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]]:
    """Endless batches ``(images, segments)`` of ``batch`` scenes, in an order shuffled anew
    (from ``order``) at each pass over the scenes."""
    queue: list[int] = []
    while True:
        while len(queue) < batch:
            queue += torch.randperm(len(scenes), generator=order).tolist()
        indices, queue = queue[:batch], queue[batch:]
        images, segments = zip(*(scene(scenes, i) for i in indices), strict=True)
        yield images, segments


def train_sam(model: torch.nn.Module, config: SamConfig, device: torch.device,
              log: Callable[[str], None] = print) -> dict[str, float]:
    """Train a SAM on ``config.scenes`` synthetic scenes of seed 0 (module docstring for the
    recipe), through :func:`segedu.engine.train_steps`.

    Each step encodes ``config.batch`` images once and decodes ``config.prompts`` targets per
    image in ``config.rounds`` rounds (the first prompt, then correction clicks). Scenes are drawn
    on the fly in an order shuffled each epoch (each scene is the same whatever the order: its
    own seed), and every random choice comes from ``config.seed``, so a run is reproducible.
    bfloat16 autocast on a GPU only. Returns ``steps``, ``warmup`` (the warm-up steps:
    ``config.warmup``, or a fifth of a shorter run), ``minutes`` and the last step's losses
    ``loss``, ``mask``, ``focal``, ``dice``, ``iou``.
    """
    warmup = min(config.warmup, config.steps // 5)  # a short run warms up for a fifth of it
    model.to(device).train()
    data = SyntheticScenes(size=SIZE, length=config.scenes, seed=0)
    order = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=warmup, warmup_start=0.01)

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

    run = train_steps(compute_loss, _scene_batches(data, config.batch, order), model=model,
                      optimizer=optimizer, steps=config.steps, scheduler=scheduler,
                      grad_clip=1.0, device=device, amp_dtype=torch.bfloat16, log=log)
    model.eval()
    return {**run, "warmup": warmup}


def train(config: SamConfig) -> torch.nn.Module:
    """Train the zoo's SAM (:func:`train_sam`), score it on the held-out scenes, write its
    checkpoint and card to ``config.out``; return the trained model."""
    device, model = config.start()
    entry = config.entry
    run = train_sam(model, config, device)
    score = evaluate(model, device, length=config.test_scenes)
    save_float16(model, config.checkpoint_path)
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
    write_model_card(
        config, model,
        title=f"Zoo model `{entry.model}` on synthetic scenes (promptable segmentation)",
        trained=trained_line(config, device, config.steps, run["minutes"]), recipe=recipe,
        held_out=held_out, table=metric_table(score, METRIC_NAMES))
    return model
