"""The zoo's semantic segmentation recipe (U-Net, SegNet, FCN, PSPNet, DeepLabv3+).

- data: ``scenes`` (8000) ``SyntheticScenes`` of 128 x 128 pixels from seed 0, drawn once and
  kept in memory (an epoch is 500 steps of 16); the held-out split (:mod:`segedu.zoo.scores`,
  500 scenes from seed 1) is never seen in training;
- the entry's ``steps`` of batch 16 with :func:`segedu.engine.fit`, Adam from the entry's ``lr``
  with a cosine decay to 0 (:class:`segedu.engine.WarmupCosine` without warm-up), AMP on a GPU;
- loss (:func:`zoo_loss`): cross-entropy plus soft Dice; a model that returns a dict with an
  auxiliary output (FCN, PSPNet) adds 0.4 times the same loss on ``"aux"``, the PSPNet paper's
  weight (Zhao et al., CVPR 2017);
- score (:func:`evaluate`): per-class IoU and mIoU on the held-out split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from ..data import SyntheticScenes
from ..engine import WarmupCosine, fit
from ..losses import ce_dice_loss
from . import Task
from .cards import trained_line, write_model_card
from .float16 import save_float16
from .recipe import Recipe, TrainConfig
from .scores import SIZE, TEST_SCENES, scene_tensors
from .scores import evaluate as class_iou

__all__ = ["SemanticConfig", "zoo_loss", "train", "evaluate", "RECIPE"]


@dataclass
class SemanticConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus ``scenes`` (training scenes drawn, seed 0)
    and ``test_scenes`` (held-out scenes scored)."""

    tasks = (Task.SEMANTIC,)
    positive = ("scenes", "test_scenes")

    scenes: int = 8000
    test_scenes: int = TEST_SCENES


def zoo_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + soft Dice of a semantic model's ``outputs["out"]`` ``(N, K, H, W)`` against
    the classes ``(N, H, W)``, plus 0.4 times it on ``outputs["aux"]`` when there is one."""
    loss = ce_dice_loss(outputs["out"].float(), target)
    if "aux" in outputs:
        loss = loss + 0.4 * ce_dice_loss(outputs["aux"].float(), target)
    return loss


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> dict[str, float]:
    """IoU of each scene class (``"sky"``, ...) and ``"miou"`` on the first ``length`` held-out
    scenes (:func:`segedu.zoo.scores.evaluate`)."""
    iou = class_iou(model, device, length=length)
    return {**dict(zip(SyntheticScenes.classes, iou.tolist(), strict=True)),
            "miou": float(iou.nanmean())}


def train(config: SemanticConfig) -> torch.nn.Module:
    """Train ``config.name`` with the recipe above; write its checkpoint and card to
    ``config.out``; return the trained model."""
    device, model = config.start()
    # channels-last (NHWC) activations: the same weights, and convolutions about 1.1 to 1.4 times
    # faster on a CPU (oneDNN; segedu/zoo/README.md); save_float16 stores them contiguous
    model = model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    images, labels = scene_tensors(seed=0, length=config.scenes)  # (L, 3, S, S), (L, S, S)
    data_minutes = (time.perf_counter() - start) / 60
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)
    with torch.no_grad():  # does the model have an auxiliary output? (eval: BN on one image)
        outputs = model.eval()(images[:1])
        auxiliary = "aux" in outputs
    loader = DataLoader(TensorDataset(images, labels), batch_size=config.batch, shuffle=True)
    # the data order follows the seed; with a resume_dir, an interrupted run goes on from last.pt
    history = fit(model, loader, loss_fn=zoo_loss, optimizer=optimizer, scheduler=scheduler,
                  max_steps=config.steps, device=device, amp=device.type == "cuda",
                  progress=False, live_plot=False, seed=config.seed,
                  checkpoint_dir=config.resume_dir,
                  checkpoint_every=250 if config.resume_dir is not None else None)
    minutes = None if history.seconds is None else history.seconds / 60  # all calls of the run
    score = evaluate(model, device, length=config.test_scenes)
    save_float16(model, config.checkpoint_path)
    table = ["| class | IoU |", "| --- | ---: |",
             *[f"| {name} | {score[name]:.3f} |" for name in SyntheticScenes.classes],
             f"| **mIoU** | **{score['miou']:.3f}** |", ""]
    aux = ", plus 0.4 x the same on the auxiliary output" if auxiliary else ""
    recipe = (f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0, drawn "
              f"once), Adam {config.lr:g} with cosine decay, cross-entropy + soft Dice{aux}")
    write_model_card(config, model, title=f"Zoo model `{config.name}` on synthetic scenes",
                     trained=trained_line(config, device, config.steps, minutes)
                     + f" (and {data_minutes:.1f} min to draw the data)",
                     recipe=recipe, table=table,
                     held_out=f"{config.test_scenes} scenes from seed 1, never seen in training")
    return model


RECIPE = Recipe(Task.SEMANTIC, SemanticConfig, train, evaluate)
